"""Issue #12 item 2 against the real Asterisk: FastAGI takes only connections that carry the
deployment's secret in the AGI URL (from allowed peers). A forged connection from a local
process runs no handler: no call record, no seat assigned, no seat left paused."""
from __future__ import annotations

import asyncio
import os
import stat

import pytest

from devstack.simcall import place_call
from pbx import contract as V
from pbx.agi import AGISession
from pbx.agi_server import FastAGIServer

pytestmark = pytest.mark.asterisk


async def forge(port: int, script: str, uniqueid: str) -> bytes:
    """What an attacker on the host sends: a plausible AGI environment for a call."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1:{port}/{script}\n"
                  f"agi_channel: PJSIP/trunk-00000001\nagi_uniqueid: {uniqueid}\nagi_callerid: 13800009999\n"
                  "agi_calleridname: x\nagi_dnid: 12345\nagi_extension: 12345\n\n").encode())
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)        # what the server asked, if anything
    finally:
        writer.close()


async def test_a_forged_fastagi_connection_runs_nothing_and_a_real_call_still_does(fresh):
    ran: list[str] = []

    async def handler(s: AGISession) -> None:
        ran.append(s.env.uniqueid)
        await s.answer()
        await s.set_variable(V.NEXT, "hangup")

    fresh.use(handler)
    before = getattr(fresh.agi.stats, "refused_secret", 0)
    secret = getattr(fresh, "agi_secret", "")
    for script, uid in (("ivr", "forged-1"), ("wrong-secret/ivr", "forged-2"), (f"{secret[:-1]}x/ivr", "forged-3")):
        assert await forge(fresh.agi.port, script, uid) == b""          # closed without a single command
    assert ran == [] and fresh.agi.stats.refused_secret == before + 3
    assert not await fresh.redis.exists("hotline:calllog:forged-1")
    assert await fresh.redis.hget("hotline:call:forged-1", "state") is None

    result = await place_call(fresh.ami, did="12345", caller="13800001234", hold=5, timeout=30)
    assert result.completed and not result.fallback, result.events[-5:]
    assert len(ran) == 1                                            # Asterisk's URL carries the secret


def test_the_secret_is_per_deployment_private_and_in_the_dialplan_only(fresh):
    from hotline.runtime import FASTAGI_SECRET_FILE
    path = fresh.settings.path(fresh.settings.storage.data_dir) / FASTAGI_SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().strip() == fresh.agi_secret and len(fresh.agi_secret) >= 32
    text = (fresh.asterisk.etc / "extensions_hotline.conf").read_text()
    assert f"/{fresh.agi_secret}/ivr" in text
    assert stat.S_IMODE(os.stat(fresh.asterisk.etc / "extensions_hotline.conf").st_mode) & 0o007 == 0


async def test_connections_from_addresses_that_are_not_allowed_are_dropped():
    ran = []

    async def handler(s: AGISession) -> None:
        ran.append(1)

    server = FastAGIServer({"ivr": handler}, allowed_peers=("192.0.2.0/24",))   # not this host
    await server.start()
    try:
        assert await forge(server.port, "ivr", "x") == b""
        await asyncio.sleep(0.1)
        assert ran == [] and server.stats.refused_peers == 1 and server.stats.accepted == 0
    finally:
        await server.stop()
