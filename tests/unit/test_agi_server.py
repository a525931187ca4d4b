"""FastAGI server and session against a fake Asterisk over a real socket.

The fake peer plays Asterisk 16's side byte for byte: the header it sends and
the replies it gives are what a real Asterisk 16.28 sent on this machine.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from pbx import contract as V
from pbx.agi import (
    AGIArgumentError,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGISession,
    AGITimeout,
    AGIUsageError,
)
from pbx.agi_server import FastAGIServer

pytestmark = pytest.mark.timeout(20)

USAGE_520 = [
    "520-Invalid command syntax.  Proper usage follows:",
    "Send the given file, allowing playback to be interrupted by the given digits, if any.",
    "    <value>SUCCESS</value>",
    "520 End of proper usage.",
]
DEAD_511 = "511 Command Not Permitted on a dead channel or intercept routine"


def header(script: str = "ivr", port: int = 4573, **extra: str) -> bytes:
    fields = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": "PJSIP/trunk-00000007",
        "agi_language": "zh",
        "agi_type": "PJSIP",
        "agi_uniqueid": "1700000000.7",
        "agi_version": "16.28.0~dfsg-0+deb11u10",
        "agi_callerid": "13800001234",
        "agi_calleridname": "张三",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "12345",
        "agi_rdnis": "unknown",
        "agi_context": "hotline-entry",
        "agi_extension": "12345",
        "agi_priority": "3",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140081584314048",
    }
    fields.update(extra)
    return ("".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n").encode()


class FakeAsterisk:
    """Asterisk's side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def call(cls, port: int, script: str = "ivr", **extra: str) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(header(script, port, **extra))
        await writer.drain()
        return cls(reader, writer)

    async def command(self, timeout: float = 3.0) -> str:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("server closed the connection")
        return line.decode().rstrip("\n")

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\n" for line in lines).encode())

    async def expect(self, expected: str, *reply: str) -> None:
        got = await self.command()
        assert got == expected
        self.send(*reply)

    async def until_eof(self, timeout: float = 3.0) -> list[str]:
        """Every remaining command line until the server closes (replying 200 result=1 to each)."""
        lines: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await self.reader.readline()
                except ConnectionResetError:
                    break
                if not raw:
                    break
                lines.append(raw.decode().rstrip("\n"))
                self.send("200 result=1")
        self.close()
        return lines

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def running(handlers, **kw) -> AsyncIterator[FastAGIServer]:
    kw.setdefault("drain_timeout", 0.5)
    server = FastAGIServer(handlers, **kw)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0.5)


async def finishing_handler(s: AGISession) -> None:
    await s.set_variable(V.NEXT, "hangup")


async def good_call(port: int, script: str = "ivr") -> float:
    """A well-behaved call to a server whose handler is `finishing_handler`; its duration."""
    t0 = time.monotonic()
    peer = await FakeAsterisk.call(port, script)
    await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
    assert await peer.until_eof() == []
    return time.monotonic() - t0


async def wait_until(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- a whole call


async def test_full_call_flow():
    seen: dict = {}

    async def ivr(s: AGISession) -> None:
        seen["env"] = (s.env.network_script, s.env.callerid, s.env.calleridname, s.env.dnid, s.env.uniqueid)
        await s.answer()
        seen["key"] = await s.stream_file("/var/prompts/welcome", escape_digits="12")
        seen["menu"] = await s.get_data("zh/menu", timeout_ms=3000, max_digits=4)
        seen["again"] = await s.get_data("zh/menu", timeout_ms=3000, max_digits=4)
        seen["name"] = await s.get_variable("CALLERID(name)")
        seen["unset"] = await s.get_variable("NOPE")
        await s.set_variable(V.NEXT, "hangup")
        await s.hangup()
        seen["hung_up"] = s.hung_up

    async with running({"ivr": ivr}) as server:
        peer = await FakeAsterisk.call(server.port)
        await peer.expect("ANSWER", "200 result=0")
        await peer.expect('STREAM FILE "/var/prompts/welcome" "12" 0', "200 result=50 endpos=4960")
        await peer.expect('GET DATA "zh/menu" 3000 4', "200 result=123")
        await peer.expect('GET DATA "zh/menu" 3000 4', "200 result= (timeout)")
        await peer.expect('GET VARIABLE "CALLERID(name)"', "200 result=1 (张三)")
        await peer.expect('GET VARIABLE "NOPE"', "200 result=0")
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        await peer.expect("HANGUP", "200 result=1", "HANGUP")     # Asterisk announces the hangup after it
        assert await peer.until_eof() == []
        await wait_until(lambda: server.active_calls == 0)
        assert server.stats.completed == 1 and server.stats.failed == 0
    assert seen == {
        "env": ("ivr", "13800001234", "张三", "12345", "1700000000.7"),
        "key": "2", "menu": ("123", False), "again": ("", True),
        "name": "张三", "unset": None, "hung_up": True,
    }


async def test_typed_commands_wire_format():
    out: dict = {}

    async def ivr(s: AGISession) -> None:
        out["digit"] = await s.wait_for_digit(5000)
        out["none"] = await s.wait_for_digit(100)
        out["full"] = await s.get_full_variable("${CALLERID(num)} 号")
        await s.set_variable("NOTE", '他说 "你好" C:\\x')
        out["dial"] = await s.exec("Dial", "PJSIP/seat1001", "30", "tT")
        out["noargs"] = await s.exec("Echo")
        await s.say_digits("12345", escape_digits="#")
        await s.say_number(42)
        await s.verbose("进入菜单\n第二行", level=3)
        out["rec"] = await s.record_file("/tmp/rec/abc", silence_s=3)
        await s.set_music(True, "default")
        await s.set_music(False)
        out["raw"] = await s.command("CHANNEL", "STATUS")
        with pytest.raises(AGIError) as e:
            await s.exec("NoSuchApp", "a")
        out["missing"] = e.value.error_id
        await s.set_variable(V.NEXT, "hangup")

    async with running({"ivr": ivr}) as server:
        peer = await FakeAsterisk.call(server.port)
        await peer.expect("WAIT FOR DIGIT 5000", "200 result=35")
        await peer.expect("WAIT FOR DIGIT 100", "200 result=0")
        await peer.expect('GET FULL VARIABLE "${CALLERID(num)} 号"', "200 result=1 (13800001234 号)")
        await peer.expect('SET VARIABLE "NOTE" "他说 \\"你好\\" C:\\\\x"', "200 result=1")
        await peer.expect('EXEC Dial "PJSIP/seat1001,30,tT"', "200 result=0")
        await peer.expect("EXEC Echo", "200 result=0")
        await peer.expect('SAY DIGITS "12345" "#"', "200 result=0")
        await peer.expect('SAY NUMBER 42 ""', "200 result=0")
        await peer.expect('VERBOSE "进入菜单 第二行" 3', "200 result=1")
        await peer.expect('RECORD FILE "/tmp/rec/abc" "wav" "#" -1 BEEP s=3', "200 result=0 (timeout) endpos=24000")
        await peer.expect('SET MUSIC on "default"', "200 result=0")
        await peer.expect("SET MUSIC off", "200 result=0")
        await peer.expect("CHANNEL STATUS", "200 result=6")
        await peer.expect('EXEC NoSuchApp "a"', "200 result=-2")
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        assert await peer.until_eof() == []
        await wait_until(lambda: server.active_calls == 0)
        assert server.stats.completed == 1
    assert out["digit"] == "#" and out["none"] == "" and out["full"] == "13800001234 号"
    assert out["dial"] == 0 and out["noargs"] == 0 and out["missing"] == "app_not_found"
    assert out["rec"].data == "timeout" and out["rec"].extras["endpos"] == "24000"
    assert out["raw"].result_int == 6


# --------------------------------------------------------------------------- hangups and error replies


async def run_one(handler, script_peer) -> FastAGIServer:
    """Serve one call with `handler`, playing Asterisk with `script_peer(peer)`; return the stopped server."""
    async with running({"ivr": handler}) as server:
        peer = await FakeAsterisk.call(server.port)
        await script_peer(peer)
        await wait_until(lambda: server.active_calls == 0)
    return server


async def test_hangup_line_in_front_of_reply_raises_hangup(caplog):
    caught: list = []

    async def ivr(s: AGISession) -> None:
        try:
            await s.get_variable("X")
        except AGIHangup as exc:
            caught.append(("first", type(exc), s.hung_up))
        await s.set_variable("AFTER", "1")          # allowed on a dead channel: no second AGIHangup
        try:
            await s.stream_file("beep")
        except AGIDeadChannel as exc:
            caught.append(("dead", exc.code))
            raise

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect('GET VARIABLE "X"', "HANGUP", "200 result=1 (v)")
        await peer.expect('SET VARIABLE "AFTER" "1"', "200 result=1")
        await peer.expect('STREAM FILE "beep" "" 0', DEAD_511)
        assert await peer.until_eof() == []            # a hangup is not an error: no fallback variable

    caplog.set_level(logging.INFO, logger="pbx.agi_server")
    server = await run_one(ivr, peer_side)
    assert caught == [("first", AGIHangup, True), ("dead", 511)]
    assert server.stats.hangups == 1 and server.stats.failed == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("hung up" in r.getMessage() for r in caplog.records)


async def test_minus_one_then_hangup_line_is_a_hangup():
    caught: list = []

    async def ivr(s: AGISession) -> None:
        try:
            await s.stream_file("welcome", "123")
        except AGIHangup as exc:
            caught.append(exc.error_id)
            raise

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect('STREAM FILE "welcome" "123" 0', "200 result=-1 endpos=2400", "HANGUP")
        assert await peer.until_eof() == []

    server = await run_one(ivr, peer_side)
    assert caught == ["hangup"] and server.stats.hangups == 1


async def test_minus_one_alone_is_a_playback_failure_and_the_session_goes_on():
    out: list = []

    async def ivr(s: AGISession) -> None:
        with pytest.raises(AGIError) as e:
            await s.stream_file("no-such-file")
        out.append((e.value.error_id, isinstance(e.value, AGIHangup), s.hung_up))
        out.append(await s.get_variable("X"))
        await s.set_variable(V.NEXT, "hangup")

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect('STREAM FILE "no-such-file" "" 0', "200 result=-1 endpos=0")   # channel alive
        await peer.expect('GET VARIABLE "X"', "200 result=1 (x)")
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        assert await peer.until_eof() == []

    server = await run_one(ivr, peer_side)
    assert out == [("playback_failed", False, False), "x"]
    assert server.stats.completed == 1


async def test_record_hangup_and_exec_minus_one():
    out: list = []

    async def ivr(s: AGISession) -> None:
        out.append(await s.exec("Playback", "x"))              # -1 without HANGUP: just the result
        with pytest.raises(AGIHangup):
            await s.record_file("/tmp/r", timeout_ms=5000, beep=False)
        out.append(s.hung_up)

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect('EXEC Playback "x"', "200 result=-1")
        await peer.expect('RECORD FILE "/tmp/r" "wav" "#" 5000', "200 result=-1 (hangup) endpos=0", "HANGUP")
        assert await peer.until_eof() == []

    await run_one(ivr, peer_side)
    assert out == [-1, True]


async def test_usage_error_and_invalid_command_leave_the_session_usable():
    out: list = []

    async def ivr(s: AGISession) -> None:
        with pytest.raises(AGIUsageError) as e:
            await s.command("STREAM", "FILE")
        out.append((e.value.code, e.value.details["usage"]))
        with pytest.raises(AGIInvalidCommand) as e2:
            await s.command("FOO", "BAR")
        out.append(e2.value.code)
        out.append(await s.get_variable("X"))
        await s.set_variable(V.NEXT, "hangup")

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect("STREAM FILE", *USAGE_520)
        await peer.expect("FOO BAR", "510 Invalid or unknown command")
        await peer.expect('GET VARIABLE "X"', "200 result=1 (ok)")
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        assert await peer.until_eof() == []

    await run_one(ivr, peer_side)
    assert out == [(520, "\n".join(USAGE_520[1:-1])), 510, "ok"]


async def test_timeout_then_late_reply_is_skipped():
    out: list = []

    async def ivr(s: AGISession) -> None:
        with pytest.raises(AGITimeout):
            await s.command("GET", "VARIABLE", "SLOW", timeout=0.2)
        out.append(await s.get_variable("FAST"))      # the late reply to SLOW must not be taken for this one

    async def peer_side(peer: FakeAsterisk) -> None:
        assert await peer.command() == "GET VARIABLE SLOW"
        await asyncio.sleep(0.4)
        peer.send("200 result=1 (slow)")
        await peer.expect('GET VARIABLE "FAST"', "200 result=1 (fast)")
        assert await peer.until_eof() == []

    await run_one(ivr, peer_side)
    assert out == ["fast"]


async def test_connection_closed_by_asterisk_mid_command():
    out: list = []

    async def ivr(s: AGISession) -> None:
        try:
            await s.stream_file("long")
        except AGIConnectionClosed as exc:
            out.append((isinstance(exc, AGIHangup), s.closed))
            raise

    async def peer_side(peer: FakeAsterisk) -> None:
        assert await peer.command() == 'STREAM FILE "long" "" 0'
        peer.close()

    server = await run_one(ivr, peer_side)
    assert out == [(True, True)] and server.stats.hangups == 1


async def test_command_too_long_is_refused_before_sending():
    async def ivr(s: AGISession) -> None:
        with pytest.raises(AGIArgumentError) as e:
            await s.set_variable("BIG", "中" * 1000)
        assert e.value.error_id == "command_too_long"
        with pytest.raises(AGIArgumentError):
            await s.set_variable("NL", "a\nANSWER")
        await s.set_variable(V.NEXT, "hangup")

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")   # nothing sent before it
        assert await peer.until_eof() == []

    server = await run_one(ivr, peer_side)
    assert server.stats.completed == 1


# --------------------------------------------------------------------------- handler failures and routing


@pytest.mark.parametrize("exc", [ValueError("bug in a handler"), AGIInvalidCommand(code=510)])
async def test_handler_error_sets_fallback_reason_and_closes(caplog, exc):
    async def ivr(s: AGISession) -> None:
        await s.answer()
        raise exc

    async def peer_side(peer: FakeAsterisk) -> None:
        await peer.expect("ANSWER", "200 result=0")
        assert await peer.until_eof() == [f'SET VARIABLE "{V.FALLBACK_REASON}" "error"']

    caplog.set_level(logging.INFO)
    server = await run_one(ivr, peer_side)
    assert server.stats.failed == 1 and server.stats.completed == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None        # one log line, with the traceback
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "138****1234" in text and "13800001234" not in text


async def test_unknown_script_without_default_goes_to_fallback(caplog):
    called: list = []

    async def ivr(s: AGISession) -> None:
        called.append("ivr")

    caplog.set_level(logging.WARNING, logger="pbx.agi_server")
    async with running({"ivr": ivr}) as server:
        peer = await FakeAsterisk.call(server.port, "nosuch")
        assert await peer.until_eof() == [f'SET VARIABLE "{V.FALLBACK_REASON}" "no_handler"']
        await wait_until(lambda: server.active_calls == 0)
        assert server.stats.no_handler == 1
    assert called == []
    assert any("no handler" in r.getMessage() for r in caplog.records)


async def test_routing_by_script_and_default_handler():
    called: list = []

    def make(name: str):
        async def handler(s: AGISession) -> None:
            called.append((name, s.env.network_script, s.env.arguments))
            await s.set_variable(V.NEXT, "hangup")
        return handler

    async with running({"ivr": make("ivr"), "survey": make("survey")}, default_handler=make("default")) as server:
        await good_call(server.port, "survey")
        await good_call(server.port, "ivr")
        peer = await FakeAsterisk.call(server.port, "other", agi_arg_1="a b", agi_arg_2="二")
        await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        assert await peer.until_eof() == []
    assert called == [("survey", "survey", ()), ("ivr", "ivr", ()), ("default", "other", ("a b", "二"))]


async def test_calls_run_concurrently():
    release = asyncio.Event()

    async def ivr(s: AGISession) -> None:
        if s.env.arguments == ("slow",):
            await release.wait()
        await s.set_variable(V.NEXT, "hangup")

    async with running({"ivr": ivr}) as server:
        slow = await FakeAsterisk.call(server.port, agi_arg_1="slow")
        durations = await asyncio.gather(*(good_call(server.port) for _ in range(20)))
        assert max(durations) < 1.0
        await wait_until(lambda: server.active_calls == 1)
        release.set()
        await slow.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
        assert await slow.until_eof() == []
        await wait_until(lambda: server.active_calls == 0)
        assert server.stats.completed == 21


# --------------------------------------------------------------------------- junk on the port


async def _send_junk(port: int, payload: bytes, close: bool) -> FakeAsterisk:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):
        writer.write(payload)
        await writer.drain()
        if close:
            writer.write_eof()
    return FakeAsterisk(reader, writer)


async def _closed_by_server(peer: FakeAsterisk, within: float) -> None:
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionError):
            while await peer.reader.read(65536):
                pass
    peer.close()


GOOD = header().decode()


@pytest.mark.parametrize("name, payload, close, reason", [
    ("half headers then close", GOOD[: len(GOOD) // 2].encode(), True, "header_eof"),
    ("headers never finished", GOOD[:-1].encode(), False, "header_timeout"),
    ("1 MB of garbage", bytes(range(256)) * 4096, False, "header_"),
    ("1 MB without a newline", b"agi_x: " + b"y" * (1 << 20), False, "header_line_too_long"),
    ("line over the limit", b"agi_network: yes\nagi_callerid: " + b"1" * 5000 + b"\n\n", False, "header_"),
    ("too many header bytes", b"agi_network: yes\n" * 300 + b"\n", False, "header_too_large"),
    ("binary junk", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", False, "header_"),
    ("invalid utf-8", b"agi_network: yes\nagi_calleridname: \xff\xfe\xc3\x28\n\n", False, "header_invalid_utf8"),
    ("no request header", b"agi_network: yes\n\n", False, "header_incomplete"),
    ("empty line first", b"\n", False, "header_incomplete"),
])
async def test_junk_is_closed_and_the_next_call_is_served(caplog, name, payload, close, reason):
    caplog.set_level(logging.WARNING, logger="pbx.agi_server")
    async with running({"ivr": finishing_handler}, header_timeout=0.3, max_header_bytes=4096) as server:
        junk = await _send_junk(server.port, payload, close)
        assert await good_call(server.port) < 1.0               # served at once, junk or not
        await _closed_by_server(junk, within=1.0)
        await wait_until(lambda: server.active_calls == 0)
        assert server.stats.rejected_headers == 1 and server.stats.completed == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0], warnings


async def test_stalled_client_does_not_delay_other_calls():
    async with running({"ivr": finishing_handler}, header_timeout=2.0) as server:
        stalled = await _send_junk(server.port, b"agi_network: yes\n", close=False)
        assert await good_call(server.port) < 1.0                  # served while the other is stalled
        await wait_until(lambda: server.active_calls == 1)
        await _closed_by_server(stalled, within=3.0)
        await wait_until(lambda: server.active_calls == 0)


async def test_eof_during_headers_does_not_spin():
    async with running({"ivr": finishing_handler}, header_timeout=5.0) as server:
        loop = asyncio.get_running_loop()
        cpu0 = time.process_time()
        for _ in range(20):
            junk = await _send_junk(server.port, b"agi_network: yes\nagi_req", close=True)
            await _closed_by_server(junk, within=1.0)
        await wait_until(lambda: server.active_calls == 0, timeout=1.0)
        await asyncio.sleep(0.3)
        assert time.process_time() - cpu0 < 1.0
        assert loop.is_running() and server.stats.rejected_headers == 20


# --------------------------------------------------------------------------- graceful drain


async def test_drain_finishes_short_calls_and_sends_the_rest_to_fallback(caplog):
    caplog.set_level(logging.INFO, logger="pbx.agi_server")
    idle_forever = asyncio.Event()

    async def ivr(s: AGISession) -> None:
        kind = s.env.arguments[0]
        if kind == "quick":
            await s.answer()
            await asyncio.sleep(0.3)                     # finishes inside the drain
            await s.set_variable(V.NEXT, "hangup")
        elif kind == "busy":
            await s.exec("Queue", "hotline-fallback")  # Asterisk never answers in time
        else:
            await idle_forever.wait()                    # waiting on something else, no command in flight

    server = FastAGIServer({"ivr": ivr}, drain_timeout=1.0)
    await server.start()
    port = server.port
    quick = await FakeAsterisk.call(port, agi_arg_1="quick")
    busy = await FakeAsterisk.call(port, agi_arg_1="busy")
    idle = await FakeAsterisk.call(port, agi_arg_1="idle")
    await quick.expect("ANSWER", "200 result=0")
    assert await busy.command() == 'EXEC Queue "hotline-fallback"'
    await wait_until(lambda: server.active_calls == 3)

    t0 = time.monotonic()
    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0.05)
    with pytest.raises(OSError):                          # no new connection once stop() has begun
        await asyncio.open_connection("127.0.0.1", port)

    await quick.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
    assert await quick.until_eof() == []
    assert time.monotonic() - t0 < 1.0                    # the short call ended normally, before the limit

    drain_line = f'SET VARIABLE "{V.FALLBACK_REASON}" "drain"'
    busy_lines, idle_lines = await asyncio.gather(busy.until_eof(5.0), idle.until_eof(5.0))
    assert busy_lines == [drain_line] and idle_lines == [drain_line]
    await stopping
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 2.0, elapsed
    assert server.active_calls == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("fastagi-")]
    st = server.stats
    assert (st.completed, st.drained, st.failed) == (1, 2, 0)
    assert any("drain" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_handler_that_ignores_cancellation(caplog):
    """One swallows the cancellation and returns: still sent to the fallback. One keeps
    running: its socket is dropped and stop() still returns on time."""
    done = asyncio.Event()

    async def ivr(s: AGISession) -> None:
        stubborn = s.env.arguments == ("stubborn",)
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                if not stubborn:
                    return
                await done.wait()
                return

    caplog.set_level(logging.WARNING, logger="pbx.agi_server")
    server = FastAGIServer({"ivr": ivr}, drain_timeout=0.2)
    await server.start()
    polite = await FakeAsterisk.call(server.port, agi_arg_1="polite")
    stubborn = await FakeAsterisk.call(server.port, agi_arg_1="stubborn")
    await wait_until(lambda: server.active_calls == 2)
    t0 = time.monotonic()
    polite_lines, _ = await asyncio.gather(polite.until_eof(), server.stop())
    assert time.monotonic() - t0 < 0.2 + 1.2
    assert polite_lines == [f'SET VARIABLE "{V.FALLBACK_REASON}" "drain"']
    await _closed_by_server(stubborn, within=1.0)                 # dropped
    assert any("ignored cancellation" in r.getMessage() for r in caplog.records)
    done.set()
    await wait_until(lambda: server.active_calls == 0)


async def test_concurrent_stop_calls_both_wait_for_the_drain():
    release = asyncio.Event()

    async def ivr(s: AGISession) -> None:
        await release.wait()
        await s.set_variable(V.NEXT, "hangup")

    server = FastAGIServer({"ivr": ivr}, drain_timeout=2.0)
    await server.start()
    peer = await FakeAsterisk.call(server.port)
    await wait_until(lambda: server.active_calls == 1)
    first = asyncio.create_task(server.stop())
    second = asyncio.create_task(server.stop())
    await asyncio.sleep(0.1)
    assert not first.done() and not second.done()
    release.set()
    await peer.expect(f'SET VARIABLE "{V.NEXT}" "hangup"', "200 result=1")
    assert await peer.until_eof() == []
    await asyncio.wait_for(asyncio.gather(first, second), 2.0)
    assert server.active_calls == 0 and server.stats.completed == 1


async def test_stop_is_quick_when_idle_and_port_can_be_reused():
    server = FastAGIServer({"ivr": finishing_handler})
    await server.start()
    port = server.port
    t0 = time.monotonic()
    await server.stop()
    assert time.monotonic() - t0 < 0.5
    again = FastAGIServer({"ivr": finishing_handler}, port=port)
    await again.start()
    try:
        assert again.port == port
        assert await good_call(port) < 1.0
    finally:
        await again.stop()


async def test_fallback_reply_lines_match_asterisk_wire(caplog):
    """The fallback command is the one verified on Asterisk 16: it sets the variable."""
    lines: Sequence[str] = []

    async def ivr(s: AGISession) -> None:
        raise RuntimeError("x")

    async with running({"ivr": ivr}) as server:
        peer = await FakeAsterisk.call(server.port)
        lines = await peer.until_eof()
    assert lines == ['SET VARIABLE "HOTLINE_FALLBACK_REASON" "error"']
