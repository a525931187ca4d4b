"""pbx.ami against a fake Asterisk speaking AMI over a real TCP socket.

The fake answers the way Asterisk 16.28 does on the wire (checked against a
real one): banner, Login, ``Response: Error`` with ``Message:``, list
actions (``EventList: start`` ... ``...Complete``), Command ``Output:`` lines.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pbx.ami import (
    AMIActionError,
    AMIClient,
    AMIConnectionError,
    AMIError,
    AMIEvent,
    AMITimeoutError,
    AMIValueError,
    _AMIProtocol,
    escape_variable_value,
)
from pbx.events import (
    CoreShowChannel,
    DeviceState,
    DeviceStateChange,
    DialEnd,
    Hangup,
    HotlineAnswered,
    HotlineCallbackResult,
    QueueMember,
    QueueParams,
)

SECRET = "s3cret"
LOGGER = "test.pbx.ami"

Headers = dict[str, Any]  # first value of each key; repeated keys give a list
Handler = Callable[["FakeAMI", asyncio.StreamWriter, Headers], Awaitable[None]]


def wire(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")


def parse(raw: bytes) -> Headers:
    headers: Headers = {}
    for line in raw.decode("utf-8").split("\r\n"):
        if not line:
            continue
        key, _, value = line.partition(": ")
        if key in headers:
            old = headers[key]
            headers[key] = (old if isinstance(old, list) else [old]) + [value]
        else:
            headers[key] = value
    return headers


class FakeAMI:
    """A fake Asterisk manager: logs in, answers pings, runs per-action handlers."""

    def __init__(self) -> None:
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.received: list[Headers] = []
        self.handlers: dict[str, Handler] = {}
        self.logins = 0
        self.connections = 0
        self.mute_pings_on: set[int] = set()  # connection numbers whose pings go unanswered

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.drop()

    def drop(self) -> None:
        for writer in list(self.writers):
            writer.close()

    def actions(self, name: str) -> list[Headers]:
        return [h for h in self.received if h.get("Action") == name]

    async def send(self, writer: asyncio.StreamWriter, data: bytes, chunks: int = 0) -> None:
        """Write `data`, in pieces of `chunks` bytes with a pause between if chunks > 0."""
        if chunks <= 0:
            writer.write(data)
            await writer.drain()
            return
        for i in range(0, len(data), chunks):
            writer.write(data[i:i + chunks])
            await writer.drain()
            await asyncio.sleep(0.01)

    async def broadcast(self, data: bytes) -> None:
        for writer in list(self.writers):
            await self.send(writer, data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        try:
            while True:
                headers = parse(await reader.readuntil(b"\r\n\r\n"))
                self.received.append(headers)
                await self._answer(writer, headers, number)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.remove(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, h: Headers, number: int) -> None:
        name, aid = h.get("Action", ""), h.get("ActionID", "")
        if name == "Login":
            if h.get("Secret") != SECRET:
                await self.send(writer, wire(("Response", "Error"), ("ActionID", aid),
                                             ("Message", "Authentication failed")))
                writer.close()
                return
            self.logins += 1
            await self.send(writer, wire(("Response", "Success"), ("ActionID", aid),
                                         ("Message", "Authentication accepted"))
                            + wire(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                   ("Status", "Fully Booted")))
        elif name == "Ping":
            if number not in self.mute_pings_on:
                await self.send(writer, wire(("Response", "Success"), ("ActionID", aid),
                                             ("Ping", "Pong"), ("Timestamp", "1795321368.039313")))
        elif name == "Logoff":
            await self.send(writer, wire(("Response", "Goodbye"), ("ActionID", aid),
                                         ("Message", "Thanks for all the fish.")))
            writer.close()
        elif name in self.handlers:
            await self.handlers[name](self, writer, h)
        else:
            await self.send(writer, wire(
                ("Response", "Error"), ("ActionID", aid),
                ("Message", f"Invalid/unknown command: {name}. Use Action: ListCommands "
                            "to show available commands.")))


def ok(h: Headers, *pairs: tuple[str, str]) -> bytes:
    return wire(("Response", "Success"), ("ActionID", h["ActionID"]), *pairs)


def error(h: Headers, message: str) -> bytes:
    return wire(("Response", "Error"), ("ActionID", h["ActionID"]), ("Message", message))


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def fake():
    server = FakeAMI()
    await server.start()
    yield server
    await server.stop()


def make_client(fake: FakeAMI, **kw: Any) -> AMIClient:
    opts: dict[str, Any] = dict(backoff=(0.05, 0.2), ping_interval=5.0, action_timeout=2.0,
                                log=logging.getLogger(LOGGER))
    opts.update(kw)
    return AMIClient("127.0.0.1", fake.port, "hotline", SECRET, **opts)


@pytest.fixture
async def client(fake):
    c = make_client(fake)
    await c.connect(timeout=2.0)
    yield c
    await c.close()


def collect(client: AMIClient, pattern: str) -> asyncio.Queue[AMIEvent]:
    queue: asyncio.Queue[AMIEvent] = asyncio.Queue()
    client.on_event(pattern, queue.put_nowait)
    return queue


# --- decoding ----------------------------------------------------------------

async def test_chinese_caller_id_name_split_across_two_tcp_writes_arrives_intact(fake, client):
    events = collect(client, "Newchannel")
    data = wire(("Event", "Newchannel"), ("Channel", "PJSIP/trunk-00000001"),
                ("CallerIDNum", "13800001234"), ("CallerIDName", "张三"),
                ("Uniqueid", "1795321384.1"))
    cut = data.index("张".encode()) + 1  # inside the three bytes of 张
    writer = fake.writers[0]
    writer.write(data[:cut])
    await writer.drain()
    await asyncio.sleep(0.05)  # the client reads the first half on its own
    writer.write(data[cut:])
    await writer.drain()
    event = await asyncio.wait_for(events.get(), 2)
    assert event.caller_id_name == "张三"
    assert event.caller_id_num == "13800001234"
    assert event.uniqueid == "1795321384.1"


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Factory:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.events.append(message)


async def test_protocol_decodes_whole_messages_byte_by_byte_and_replaces_bad_bytes():
    protocol = _AMIProtocol(logging.getLogger(LOGGER))
    protocol.connection_made(_Transport())
    factory = _Factory()
    protocol.factory = factory
    data = (b"Asterisk Call Manager/5.0.1\r\n"
            + wire(("Event", "UserEvent"), ("UserEvent", "Note"), ("Text", "张三丰"))
            + b"Event: UserEvent\r\nText: \xe5\xbc\xa0\xff\xe4\xb8\x89\r\n\r\n")
    for i in range(len(data)):
        protocol.data_received(data[i:i + 1])
    assert protocol.version == "5.0.1"
    assert [e["Text"] for e in factory.events] == ["张三丰", "张\ufffd三"]


# --- actions -----------------------------------------------------------------

async def test_error_response_raises_action_error_with_action_and_masked_params(fake, client):
    async def getvar(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        await fake.send(w, error(h, "No such channel"))

    fake.handlers["Getvar"] = getvar
    with pytest.raises(AMIActionError) as info:
        await client.getvar("PJSIP/13800001234-00000001", "HOTLINE_DID")
    err = info.value
    assert err.action == "Getvar"
    assert err.error_id == "ami.action_failed"
    assert err.message == "No such channel"
    assert err.params["Channel"] == "PJSIP/138****1234-00000001"
    assert "13800001234" not in str(err) + repr(err.params) + repr(err.response)
    assert client.connected  # an error reply is not a connection problem


async def test_action_list_collects_events_until_complete(fake, client):
    async def queue_status(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        aid = h["ActionID"]
        data = (ok(h, ("EventList", "start"), ("Message", "Queue status will follow"))
                + wire(("Event", "VarSet"), ("Channel", "Local/a-1;1"), ("Variable", "X"),
                       ("Value", "中")) # not ours: dispatched, not collected
                + wire(("Event", "QueueParams"), ("Queue", h["Queue"]), ("Calls", "1"),
                       ("ActionID", aid))
                + wire(("Event", "QueueMember"), ("Queue", h["Queue"]), ("Name", "坐席1001"),
                       ("ActionID", aid))
                + wire(("Event", "QueueMember"), ("Queue", h["Queue"]), ("Name", "坐席1002"),
                       ("ActionID", aid))
                + wire(("Event", "QueueStatusComplete"), ("ActionID", aid),
                       ("EventList", "Complete"), ("ListItems", "3")))
        await fake.send(w, data, chunks=7)  # arbitrary TCP pieces

    fake.handlers["QueueStatus"] = queue_status
    others = collect(client, "*")
    items = await client.queue_status("hotline-general")
    assert items == [QueueParams("hotline-general", calls=1), QueueMember("hotline-general", name="坐席1001"),
                     QueueMember("hotline-general", name="坐席1002")]
    assert fake.actions("QueueStatus")[0]["Queue"] == "hotline-general"
    seen = [others.get_nowait().name for _ in range(others.qsize())]
    assert "VarSet" in seen and "QueueMember" not in seen


async def test_action_list_error_reply_raises_instead_of_hanging(fake, client):
    async def refuse(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        await fake.send(w, error(h, "Permission denied"))

    fake.handlers["CoreShowChannels"] = refuse
    started = time.monotonic()
    with pytest.raises(AMIActionError) as info:
        await client.core_show_channels()
    assert info.value.action == "CoreShowChannels"
    assert time.monotonic() - started < 1.0


async def test_originate_sends_every_variable_intact(fake, client):
    async def originate(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        await fake.send(w, ok(h, ("Message", "Originate successfully queued")))
        await fake.send(w, wire(("Event", "OriginateResponse"), ("ActionID", h["ActionID"]),
                                ("Response", "Success"), ("Uniqueid", h["ChannelId"]),
                                ("CallerIDName", "张三")))

    fake.handlers["Originate"] = originate
    outcome = collect(client, "OriginateResponse")
    variables = {"HOTLINE_DID": "12345", "NOTE": 'a,b "c" \\d (e) [f] 张三 x=1',
                 "SNEAKY": "v,EVIL=1"}
    reply = await client.originate(
        "Local/12345@from-pstn", context="caller-sim", exten="s", caller_id='"张三" <13800001234>',
        variables=variables, channel_id="call-1", other_channel_id="call-1b")
    sent = fake.actions("Originate")[0]
    assert sent["CallerID"] == '"张三" <13800001234>'
    assert sent["Async"] == "true" and sent["Timeout"] == "30000" and sent["Priority"] == "1"
    assert (sent["Context"], sent["Exten"], sent["ChannelId"]) == ("caller-sim", "s", "call-1")
    assert isinstance(sent["Variable"], list) and len(sent["Variable"]) == 3
    assert asterisk_variables(sent["Variable"]) == variables
    assert reply == {"Response": "Success", "ActionID": sent["ActionID"],
                     "Message": "Originate successfully queued"}
    event = await asyncio.wait_for(outcome.get(), 2)  # the outcome comes as an event
    assert event.get("ActionID") == sent["ActionID"] and event.uniqueid == "call-1"


def asterisk_variables(headers: list[str]) -> dict[str, str]:
    """How Asterisk 16 reads Originate ``Variable:`` headers (manager.c +
    __ast_app_separate_args with quote/backslash removal), checked on 16.28."""
    out: dict[str, str] = {}
    for header in headers:
        args, cur, depth_p, depth_b, quoted, i = [], [], 0, 0, False, 0
        while i < len(header):
            c = header[i]
            if c == "\\":
                i += 1
                cur.append(header[i] if i < len(header) else "")
            elif c == '"':
                quoted = not quoted
            elif c == "," and not (depth_p or depth_b or quoted):
                args.append("".join(cur))
                cur = []
            else:
                depth_p += {"(": 1, ")": -1 if depth_p else 0}.get(c, 0)
                depth_b += {"[": 1, "]": -1 if depth_b else 0}.get(c, 0)
                cur.append(c)
            i += 1
        args.append("".join(cur))
        for arg in args:
            name, sep, value = arg.partition("=")
            if sep and name:
                out[name] = value
    return out


def test_escape_variable_value_is_needed():
    assert asterisk_variables(["A=x,B=y"]) == {"A": "x", "B": "y"}  # the hazard
    assert asterisk_variables(["A=" + escape_variable_value("x,B=y")]) == {"A": "x,B=y"}


async def test_small_actions_wire_format_and_replies(fake, client):
    async def reply(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        name = h["Action"]
        if name == "Getvar":
            value = {"EMPTY": "", "NAME": "张三, 李四"}[h["Variable"]]
            await fake.send(w, ok(h, ("Variable", h["Variable"]), ("Value", value)))
        elif name == "Command" and h["Command"] == "nosuch":
            await fake.send(w, wire(("Response", "Error"), ("ActionID", h["ActionID"]),
                                    ("Message", "Command output follows"),
                                    ("Output", "No such command 'nosuch'")))
        elif name == "Command":
            await fake.send(w, ok(h, ("Message", "Command output follows"),
                                  ("Output", "Channel   State  "), ("Output", "0 active channels")))
        else:
            await fake.send(w, ok(h, ("Message", "Done")))

    for name in ("Getvar", "Setvar", "Hangup", "Redirect", "Command", "Reload", "UserEvent"):
        fake.handlers[name] = reply
    assert await client.getvar("Local/a-1;1", "EMPTY") is None
    assert await client.getvar("Local/a-1;1", "NAME") == "张三, 李四"
    await client.setvar("Local/a-1;1", "HOTLINE_NEXT", "ivr,s,1")
    await client.hangup("Local/a-1;1", cause=16)
    await client.redirect("Local/a-1;1", "fallback", "s", "start")
    assert await client.command("core show channels") == "Channel   State  \n0 active channels"
    with pytest.raises(AMIActionError) as info:
        await client.command("nosuch")
    assert "No such command" in info.value.message
    await client.dialplan_reload()
    await client.user_event("HotlineSeat", Seat="1001", Note="张三")
    assert fake.actions("Setvar")[0]["Value"] == "ivr,s,1"
    assert fake.actions("Hangup")[0]["Cause"] == "16"
    assert fake.actions("Redirect")[0]["Priority"] == "start"
    assert fake.actions("Reload")[0]["Module"] == "pbx_config.so"
    assert fake.actions("UserEvent")[0] == {**fake.actions("UserEvent")[0],
                                            "UserEvent": "HotlineSeat", "Note": "张三"}


async def test_line_break_in_a_value_is_refused_before_sending(fake, client):
    with pytest.raises(AMIValueError):
        await client.setvar("Local/a-1;1", "X", "1\r\nAction: Hangup")
    with pytest.raises(AMIValueError):
        await client.originate("Local/1@x", exten="s")  # no context
    await client.ping()
    assert not fake.actions("Setvar") and not fake.actions("Originate")


async def test_action_without_reply_times_out(fake):
    async def silent(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        pass

    fake.handlers["Status"] = silent
    client = make_client(fake, action_timeout=0.2)
    await client.connect(timeout=2)
    try:
        with pytest.raises(AMITimeoutError) as info:
            await client.action("Status")
        assert info.value.action == "Status" and info.value.error_id == "ami.timeout"
    finally:
        await client.close()


# --- connection lifecycle ----------------------------------------------------

async def test_reconnects_with_backoff_then_calls_on_reconnect(fake, caplog):
    resyncs: list[bool] = []

    async def on_reconnect() -> None:
        resyncs.append(client.connected)
        await client.ping()  # actions work inside the resync

    client = make_client(fake, on_reconnect=on_reconnect)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    await client.connect(timeout=2)
    try:
        assert resyncs == []  # not on the first login
        await fake.stop()  # Asterisk gone: socket dropped, port closed
        await until(lambda: not client.connected)
        await asyncio.sleep(0.7)
        await fake.start()  # same port
        await until(lambda: len(resyncs) == 1)
        assert resyncs == [True] and fake.logins == 2
        await client.ping()
        delays = [r.args[-1] for r in caplog.records if "retrying in" in r.getMessage()
                  or "reconnecting in" in r.getMessage()]
        assert delays[:3] == [0.05, 0.1, 0.2] and max(delays) == 0.2  # doubles, bounded
        assert len(delays) >= 4
    finally:
        await client.close()


async def test_action_while_server_down_fails_fast(fake, client):
    await fake.stop()
    await until(lambda: not client.connected)
    started = time.monotonic()
    with pytest.raises(AMIConnectionError) as info:
        await client.originate("Local/12345@from-pstn", application="Wait", data="1")
    assert time.monotonic() - started < 0.1
    assert info.value.error_id == "ami.not_connected" and info.value.action == "Originate"


async def test_connection_lost_during_action_fails_it_and_reconnects(fake, client):
    async def vanish(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        w.close()

    fake.handlers["Originate"] = vanish
    with pytest.raises(AMIConnectionError) as info:
        await client.originate("Local/12345@from-pstn", context="c", exten="s")
    assert info.value.error_id == "ami.connection_lost"
    await client.wait_connected(3)
    await until(lambda: fake.logins == 2)
    await client.ping()
    assert len(fake.actions("Originate")) == 1  # never replayed after the reconnect


async def test_unanswered_pings_drop_the_connection_and_reconnect(fake):
    fake.mute_pings_on = {1}
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    client = make_client(fake, ping_interval=0.1, action_timeout=0.15, on_reconnect=on_reconnect)
    await client.connect(timeout=2)
    try:
        await asyncio.wait_for(reconnected.wait(), 3)
        assert fake.connections == 2
        await client.ping()
    finally:
        await client.close()


async def test_shutdown_event_leads_to_reconnect(fake, client):
    shutdowns = collect(client, "Shutdown")
    await fake.broadcast(wire(("Event", "Shutdown"), ("Shutdown", "Cleanly"), ("Restart", "True")))
    await asyncio.wait_for(shutdowns.get(), 2)
    await until(lambda: fake.logins == 2)
    await client.wait_connected(2)
    await client.ping()


async def test_on_reconnect_failure_is_logged_not_fatal(fake, caplog):
    async def broken() -> None:
        raise RuntimeError("resync of 13800001234 failed")

    client = make_client(fake, on_reconnect=broken)
    caplog.set_level(logging.ERROR, logger=LOGGER)
    await client.connect(timeout=2)
    try:
        fake.drop()
        await until(lambda: fake.logins == 2)
        await until(lambda: any("on_reconnect" in r.getMessage() for r in caplog.records))
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "RuntimeError" in text and "13800001234" not in text
        await client.ping()
    finally:
        await client.close()


async def test_connect_with_bad_secret_fails_at_once(fake):
    client = AMIClient("127.0.0.1", fake.port, "hotline", "wrong", backoff=(0.05, 0.2))
    started = time.monotonic()
    with pytest.raises(AMIConnectionError) as info:
        await client.connect(timeout=5)
    assert info.value.error_id == "ami.login_failed"
    assert "wrong" not in repr(info.value.params)
    assert time.monotonic() - started < 1.0


async def test_connect_without_server_times_out_and_stops_trying(fake):
    await fake.stop()
    client = make_client(fake)
    with pytest.raises(AMIConnectionError) as info:
        await client.connect(timeout=0.3)
    assert info.value.error_id == "ami.connect_timeout"
    await fake.start()
    await asyncio.sleep(0.3)
    assert fake.connections == 0 and not client.connected


# --- events --------------------------------------------------------------------

async def test_callback_exceptions_are_logged_and_other_callbacks_still_run(fake, client, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    got: list[str] = []

    def bad_sync(event: AMIEvent) -> None:
        raise ValueError(f"sync boom for {event.caller_id_num}")

    async def bad_async(event: AMIEvent) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    async def good(event: AMIEvent) -> None:
        got.append(event.uniqueid or "")

    client.on_event("Hangup", bad_sync)
    client.on_event("*", bad_async)
    client.on_event("hangup", good)
    for uid in ("1.1", "1.2"):
        await fake.broadcast(wire(("Event", "Hangup"), ("Uniqueid", uid),
                                  ("CallerIDNum", "13800001234")))
    await until(lambda: len(got) == 2)
    await until(lambda: len(caplog.records) >= 4)
    assert got == ["1.1", "1.2"]  # in order, despite the failures around it
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "bad_sync" in text and "bad_async" in text and "ValueError" in text
    assert "13800001234" not in text and "138****1234" in text
    await client.ping()  # the connection survived


async def test_unsubscribe_stops_delivery(fake, client):
    got: list[str] = []
    stop = client.on_event("UserEvent", lambda e: got.append(e.get("UserEvent")))
    await fake.broadcast(wire(("Event", "UserEvent"), ("UserEvent", "one")))
    await until(lambda: got == ["one"])
    stop()
    stop()  # idempotent
    await fake.broadcast(wire(("Event", "UserEvent"), ("UserEvent", "two")))
    await client.ping()
    await asyncio.sleep(0.05)
    assert got == ["one"]


async def test_subscribe_by_type_delivers_typed_events_in_asterisk_order(fake, client):
    got: list[object] = []
    answered: list[HotlineAnswered] = []
    client.subscribe((HotlineCallbackResult, DialEnd, Hangup), got.append)
    client.subscribe(HotlineAnswered, answered.append)
    for block in (
        wire(("Event", "DialEnd"), ("Uniqueid", "cb-1"), ("Channel", "Local/1004@x-1;1"), ("DialStatus", "ANSWER")),
        wire(("Event", "Newchannel"), ("Uniqueid", "other")),                          # not subscribed
        wire(("Event", "UserEvent"), ("UserEvent", "HotlineAnswered"), ("Uniqueid", "seat-1"),
             ("Channel", "PJSIP/1004-00000001"), ("Context", "hotline-on-answer"), ("CallId", "c-1"),
             ("Seat", "1004"), ("Rec", "/rec/c-1")),
        wire(("Event", "UserEvent"), ("UserEvent", "HotlineCallbackResult"), ("Uniqueid", "cb-1"),
             ("CallId", "c-1"), ("Seat", "1004"), ("Status", "ANSWER")),
        wire(("Event", "UserEvent"), ("UserEvent", "HotlineProbe")),                   # a UserEvent not read
        wire(("Event", "Hangup"), ("Uniqueid", "cb-1"), ("Cause", "16")),
    ):
        await fake.broadcast(block)
    await until(lambda: len(got) == 3 and len(answered) == 1)
    assert got == [DialEnd("cb-1", "Local/1004@x-1;1", dial_status="ANSWER"),
                   HotlineCallbackResult("cb-1", "", call_id="c-1", seat="1004", status="ANSWER"),
                   Hangup("cb-1", "", cause=16)]
    assert answered == [HotlineAnswered("seat-1", "PJSIP/1004-00000001", context="hotline-on-answer",
                                        call_id="c-1", seat="1004", rec="/rec/c-1")]


async def test_garbage_events_do_not_stop_typed_or_raw_delivery(fake, client):
    typed: list[DeviceStateChange] = []
    raw: list[str] = []
    client.subscribe(DeviceStateChange, typed.append)
    client.on_event("*", lambda e: raw.append(e.name))
    writer = fake.writers[0]
    writer.write(b"Event: DeviceStateChange\r\nState: \xff\xfeINUSE\r\n\r\n"      # bad bytes, no Device
                 b"no colon at all\r\n\r\n"                                       # not a message
                 b"Event:\r\nUserEvent: HotlineAnswered\r\n\r\n"                  # no event name
                 b"Event: UserEvent\r\n\r\n"                                      # a UserEvent with no name
                 + wire(("Event", "DeviceStateChange"), ("Device", "PJSIP/1004"), ("State", "NOT_INUSE")))
    await writer.drain()
    await until(lambda: len(typed) == 2)
    assert typed == [DeviceStateChange("", "", device="", state=DeviceState.UNKNOWN),
                     DeviceStateChange("", "", device="PJSIP/1004", state=DeviceState.NOT_INUSE)]
    assert raw.count("DeviceStateChange") == 2 and "UserEvent" in raw
    await client.ping()  # the connection survived


async def test_typed_subscriber_exceptions_are_logged_and_unsubscribe_stops_it(fake, client, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    got: list[str] = []

    def handler(e: Hangup) -> None:
        got.append(e.uniqueid)
        if e.uniqueid == "1.1":
            raise ValueError("boom")

    stop = client.subscribe(Hangup, handler)
    for uid in ("1.1", "1.2"):
        await fake.broadcast(wire(("Event", "Hangup"), ("Uniqueid", uid)))
    await until(lambda: got == ["1.1", "1.2"])
    assert "Hangup event" in caplog.text and "ValueError" in caplog.text
    stop()
    await fake.broadcast(wire(("Event", "Hangup"), ("Uniqueid", "1.3")))
    await client.ping()
    await asyncio.sleep(0.05)
    assert got == ["1.1", "1.2"]
    with pytest.raises(ValueError):
        client.subscribe((), handler)


async def test_typed_action_results(fake, client):
    async def channels(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        aid = h["ActionID"]
        await fake.send(w, ok(h, ("EventList", "start"))
                        + wire(("Event", "CoreShowChannel"), ("ActionID", aid), ("Channel", "PJSIP/1004-00000001"),
                               ("Uniqueid", "u1"), ("Linkedid", "l1"), ("BridgeId", "b1"))
                        + wire(("Event", "CoreShowChannelsComplete"), ("ActionID", aid), ("EventList", "Complete")))

    async def getvar(fake: FakeAMI, w: asyncio.StreamWriter, h: Headers) -> None:
        await fake.send(w, ok(h, ("Variable", h["Variable"]), ("Value", "inuse")))

    fake.handlers["CoreShowChannels"] = channels
    fake.handlers["Getvar"] = getvar
    assert await client.core_show_channels() == [
        CoreShowChannel("PJSIP/1004-00000001", uniqueid="u1", linkedid="l1", bridge_id="b1")]
    assert await client.device_state("PJSIP/1004") is DeviceState.INUSE


def test_ami_event_lookup_properties_and_masked_repr():
    event = AMIEvent("Newchannel", {
        "Channel": "PJSIP/trunk-00000001", "CallerIDNum": "13800001234", "CallerIDName": "张三丰",
        "ConnectedLineNum": "<unknown>", "Uniqueid": "1795321384.1", "Linkedid": "1795321384.1",
        "Context": "from-pstn", "Exten": "12345", "Priority": "1",
        "ChanVariable": "HOTLINE_CALL_ID=c-1\nHOTLINE_LANE=普通"})
    assert event.get("callerid" "num") == "13800001234" and event.get("missing", "-") == "-"
    assert (event.channel, event.context, event.exten, event.priority) == (
        "PJSIP/trunk-00000001", "from-pstn", "12345", "1")
    assert event.caller_id_name == "张三丰" and event.linkedid == "1795321384.1"
    assert AMIEvent("X", {"CallerIDNum": "<unknown>"}).caller_id_num is None
    assert event.variable is None and event.value is None
    assert event.chan_variables == {"HOTLINE_CALL_ID": "c-1", "HOTLINE_LANE": "普通"}
    assert event == AMIEvent("Newchannel", dict(event.headers))
    text = repr(event)
    assert "13800001234" not in text and "138****1234" in text
    assert "张三丰" not in text and "1795321384.1" in text


def test_errors_carry_structure():
    err = AMIActionError("Channel does not exist: PJSIP/13800001234-0001", action="Redirect",
                         params={"Channel": "PJSIP/13800001234-0001", "CallerID": '"张三" <13800001234>'})
    assert isinstance(err, AMIError) and err.error_id == "ami.action_failed"
    assert err.params["CallerID"] == '"张*" <138****1234>'
    assert err.message == "Channel does not exist: PJSIP/138****1234-0001"
    assert "13800001234" not in str(err)
    err = AMIActionError("Channel does not exist: PJSIP/13800001234-0000002a;1", action="Hangup")
    assert err.message.endswith("PJSIP/138****1234-0000002a;1")
    assert issubclass(AMITimeoutError, AMIConnectionError)
