"""The walking skeleton against the real Asterisk and Redis: a call reaches our
FastAGI handler; faults send calls to the dialplan fallback."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from devstack.simcall import place_call
from pbx import contract as V
from pbx.agi import AGISession
from pbx.agi_server import FastAGIServer
from pbx.ami import AMIClient, AMIError

pytestmark = pytest.mark.asterisk


def basic_handler(stack, seen: dict):
    """Answer, note the caller, play a prompt, read one key, store it in Redis, hang up."""
    prompt = str(stack.prompts.ensure("您好，这里是株洲12345热线，企业诉求请按2。"))

    async def handler(s: AGISession) -> None:
        seen["start"] = time.monotonic()
        seen["callerid"] = s.env.callerid
        seen["calleridname"] = s.env.calleridname
        seen["uniqueid"] = s.env.uniqueid
        await s.answer()
        key = await s.stream_file(prompt, escape_digits="0123456789*#")
        seen["during_prompt"] = bool(key)
        if not key:
            key = await s.wait_for_digit(5000)
        seen["key"] = key
        await stack.redis.hset(f"test:call:{s.env.uniqueid}", mapping={"key": key, "caller": s.env.callerid})
        await s.set_variable(V.NEXT, "hangup")
        await s.hangup()
    return handler


async def test_call_reaches_handler_reads_caller_plays_prompt_and_stores_key(fresh):
    seen: dict = {}
    fresh.use(basic_handler(fresh, seen))
    t0 = time.monotonic()
    result = await place_call(fresh.ami, did="12345", caller="13800001234", caller_name="张三",
                              keys="2", wait=1.5, hold=10, timeout=30)
    assert result.completed, result.events[-5:]
    assert seen["callerid"] == "13800001234"
    assert seen["calleridname"] == "张三"
    assert seen["key"] == "2"
    assert seen["start"] - t0 < 2.0
    stored = await fresh.redis.hgetall(f"test:call:{seen['uniqueid']}")
    assert stored == {"key": "2", "caller": "13800001234"}
    # The prompt really played: Asterisk reports the AGI command and its result.
    agi_cmds = [e.get("Command", "") for e in result.named("AGIExecEnd")]
    assert any(c.upper().startswith("STREAM FILE") for c in agi_cmds), agi_cmds
    assert any(c.upper().startswith("HANGUP") for c in agi_cmds), agi_cmds
    assert not result.fallback
    assert "hotline-fallback" not in result.contexts()


async def test_fastagi_down_sends_call_to_fallback(fresh):
    port = fresh.agi.port
    await fresh.agi.stop()
    try:
        result = await place_call(fresh.ami, caller="13900002222", keys="", hold=6, timeout=30)
        assert result.fallback
        reasons = [e.get("Reason") for e in result.user_events("HotlineFallback")]
        assert reasons == ["agi_FAILURE"], reasons
        assert "hotline-fallback" in result.contexts()
        apps = [a for a, _ in result.applications()]
        assert "Playback" in apps and "Queue" in apps      # a prompt, then the plain queue: no dead air
    finally:
        fresh.agi = FastAGIServer(fresh.handlers, port=port, drain_timeout=3,
                                  secret=fresh.agi_secret, allowed_peers=("127.0.0.1", "::1"))
        await fresh.agi.start()


async def test_handler_error_sends_call_to_fallback(fresh):
    async def broken(s: AGISession) -> None:
        await s.answer()
        raise ValueError("bug in a handler")

    fresh.use(broken)
    result = await place_call(fresh.ami, caller="13900003333", hold=6, timeout=30)
    assert [e.get("Reason") for e in result.user_events("HotlineFallback")] == ["error"]


async def _garbage_then(fresh, payload: bytes, close_after: bool = True) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fresh.agi.port)
    writer.write(payload)
    await writer.drain()
    if close_after:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("payload", [
    b"agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1/ivr\nagi_chan",   # half headers
    bytes(range(256)) * 4096,                                                                   # 1 MB of garbage
])
async def test_garbage_on_fastagi_port_does_not_stop_the_next_call(fresh, payload):
    await _garbage_then(fresh, payload)
    seen: dict = {}
    fresh.use(basic_handler(fresh, seen))
    t0 = time.monotonic()
    result = await place_call(fresh.ami, keys="2", wait=1.0, hold=10, timeout=30)
    assert result.completed and not result.fallback
    assert seen["key"] == "2"
    assert seen["start"] - t0 < 1.0


async def test_stalled_client_does_not_block_the_next_call(fresh):
    reader, writer = await asyncio.open_connection("127.0.0.1", fresh.agi.port)
    writer.write(b"agi_network: yes\n")          # ...and then nothing: held open
    await writer.drain()
    try:
        seen: dict = {}
        fresh.use(basic_handler(fresh, seen))
        t0 = time.monotonic()
        result = await place_call(fresh.ami, keys="2", wait=1.0, hold=10, timeout=30)
        assert seen.get("key") == "2" and seen["start"] - t0 < 1.0 and not result.fallback
    finally:
        writer.close()


async def _command_until_ok(ami, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(await ami.action("CoreStatus"))      # the AMI user has no command class
        except AMIError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_ami_socket_killed_reconnects_resyncs_and_next_action_succeeds(fresh):
    resynced = asyncio.Event()

    async def resync() -> None:
        resynced.set()

    ami = AMIClient("127.0.0.1", fresh.asterisk.ports.ami, fresh.asterisk.ami_user, fresh.asterisk.ami_secret,
                    on_reconnect=resync, backoff=(0.1, 1.0))
    await ami.connect()
    try:
        assert "CoreStartupTime" in await ami.action("CoreStatus")
        ami._manager.protocol.transport.abort()       # the TCP connection dies under us
        with pytest.raises(AMIError):                 # fails fast while down, no hang
            await asyncio.wait_for(ami.action("CoreStatus"), 2)
        await asyncio.wait_for(resynced.wait(), 10)
        assert "CoreStartupTime" in await _command_until_ok(ami, 5)
        assert (await ami.action("Ping")).get("Response") == "Success"
    finally:
        await ami.close()


async def test_asterisk_restart_ami_reconnects(fresh):
    resynced = asyncio.Event()

    async def resync() -> None:
        resynced.set()

    ami = AMIClient("127.0.0.1", fresh.asterisk.ports.ami, fresh.asterisk.ami_user, fresh.asterisk.ami_secret,
                    on_reconnect=resync, backoff=(0.1, 1.0))
    await ami.connect()
    try:
        await asyncio.to_thread(fresh.asterisk.stop)
        await asyncio.to_thread(fresh.asterisk.start)
        await asyncio.wait_for(resynced.wait(), 15)
        await asyncio.wait_for(fresh.ami.wait_connected(15), 16)   # the stack's own client too
        seen: dict = {}
        fresh.use(basic_handler(fresh, seen))
        result = await place_call(fresh.ami, keys="2", wait=1.0, hold=10, timeout=30)
        assert result.completed and seen["key"] == "2"
    finally:
        await ami.close()


async def test_redis_restart_during_a_call(fresh, caplog):
    release = asyncio.Event()
    outcome: dict = {}

    async def handler(s: AGISession) -> None:
        await s.answer()
        await fresh.redis.set("test:before", "1")
        await release.wait()                          # Redis restarts meanwhile
        try:
            await fresh.redis.set("test:after", s.env.uniqueid)
            outcome["redis"] = "ok"
            await s.set_variable(V.NEXT, "hangup")
        except Exception as exc:                      # the call must still go somewhere known
            outcome["redis"] = type(exc).__name__
            logging.getLogger("hotline.test").error("redis unavailable: %s", exc)
            raise

    fresh.use(handler)
    caplog.set_level(logging.WARNING)
    call = asyncio.ensure_future(place_call(fresh.ami, hold=8, timeout=40))
    await asyncio.sleep(1.5)
    await asyncio.to_thread(fresh.redis_server.restart)
    release.set()
    result = await call
    assert result.completed
    if outcome["redis"] == "ok":
        assert await fresh.redis.get("test:after") == result.ivr_uniqueid
        assert not result.fallback
    else:
        assert result.fallback
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) <= 2, [r.getMessage() for r in errors]
    assert await fresh.redis.ping()
