"""Asterisk Manager Interface (AMI) adapter over panoramisk 1.4.

What comes from panoramisk: action objects (ActionID, serialisation with
repeated headers for list values), matching replies to actions by ActionID
(``AMIProtocol.send``/``handle_message``), and event dispatch
(``Manager.register_event``/``dispatch``). What this module replaces, and why:

* Decoding. panoramisk decodes each TCP chunk on its own with errors ignored,
  so a Chinese character split across two reads vanishes. `_AMIProtocol`
  buffers bytes and decodes whole messages (split on ``\\r\\n\\r\\n``) as
  UTF-8 with invalid bytes replaced (U+FFFD), never dropped.
* Reply collection. panoramisk guesses from the reply text whether more
  messages follow; a ``Response: Error`` to a list action then hangs forever,
  and an async Originate waits for the call. `_Action` decides from what we
  asked: one reply, or a list ended by its ``...Complete`` event.
* Connection lifecycle. panoramisk reconnects on a fixed delay, never checks
  its pings, and re-sends unanswered actions after a reconnect (a replayed
  Originate is a second call). `AMIClient` connects, logs in, pings with a
  time limit, reconnects with bounded exponential back-off, and fails the
  actions that were in flight with `AMIConnectionError`.
* Callbacks. panoramisk calls them inline (a raising sync callback kills the
  connection, a failing coroutine is never looked at). Here each
  subscription has its own queue and task: events reach it in order, a slow
  subscriber delays only itself, and an exception is logged (masked) and the
  next event still delivered.
* Typed events. `AMIClient.subscribe` delivers the typed events of
  `pbx.events` (parsed once per message; an event the product does not read,
  or cannot read, is dropped for typed subscribers); `on_event` still gives
  the raw header bags to the dev tooling.

Actions issued while disconnected fail at once with `AMIConnectionError`
(error_id ``ami.not_connected``); they do not wait for a reconnection (use
`AMIClient.wait_connected` for that). Asterisk handles the actions of one
AMI session one after the other, so a synchronous Originate (``async_=False``)
holds up every other action until the call is answered or times out.
"""
from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import inspect
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from kernel.errors import HotlineError
from pbx.ami_events import AMIEvent, Headers, mask_free_text, mask_headers
from pbx.events import (
    ConfbridgeMember,
    CoreShowChannel,
    DeviceState,
    PbxEvent,
    QueueItem,
    parse_event,
    queue_items,
)

__all__ = [
    "CONTROLLER_EVENTS", "AMIActionError", "AMIClient", "AMIConnectionError", "AMIError", "AMIEvent",
    "AMITimeoutError", "AMIValueError", "Headers", "escape_variable_value",
]

EventCallback = Callable[[AMIEvent], Awaitable[None] | None]
E = TypeVar("E", bound=PbxEvent)
E2 = TypeVar("E2", bound=PbxEvent)
E3 = TypeVar("E3", bound=PbxEvent)
E4 = TypeVar("E4", bound=PbxEvent)
E5 = TypeVar("E5", bound=PbxEvent)
Handler = Callable[[E], Awaitable[None] | None]

_SEPARATOR = b"\r\n\r\n"
_BANNER = b"Asterisk Call Manager/"
_MAX_MESSAGE = 16 * 1024 * 1024  # bytes without a message end before we give up on the peer
_QUEUE_WARN = 10_000  # undelivered events per subscription before we warn
_SUCCESS = ("Success", "Goodbye", "Follows")

# The AMI event classes the controller's own session asks for (Login's Events): every event it acts
# on is in them (call: DialEnd, Hangup, OriginateResponse, DeviceStateChange; user: the dialplan's
# UserEvents; system: FullyBooted, Shutdown). Not dialplan (Newexten, VarSet), agi (AGIExecStart/End),
# dtmf, agent (app_queue), reporting (RTCP) or cdr: at a few hundred calls those are thousands of
# events a second that Asterisk would write and the controller parse for nothing. Replies to actions
# (CoreShowChannel, ConfbridgeList, ...) come whatever the classes. Tools that watch calls (tests,
# `hotline call`, benchmarks) use sessions of their own with every class.
CONTROLLER_EVENTS = "system,call,user"
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# --- errors ----------------------------------------------------------------

class AMIError(HotlineError):
    """An AMI request failed. Carries an error id, the action and its (masked) parameters."""

    default_error_id = "ami.error"

    def __init__(self, message: str, *, action: str | None = None,
                 params: Mapping[str, Any] | None = None, error_id: str | None = None) -> None:
        self.action = action
        self.params = mask_headers(params or {})
        super().__init__(mask_free_text(message), error_id=error_id or self.default_error_id)

    def __str__(self) -> str:
        where = f" {self.action}" if self.action else ""
        return f"[{self.error_id}]{where}: {self.message}"


class AMIConnectionError(AMIError):
    """Not connected, connection lost during the action, or login impossible."""

    default_error_id = "ami.not_connected"


class AMITimeoutError(AMIConnectionError):
    """No reply within the time limit (the connection is probably dead)."""

    default_error_id = "ami.timeout"


class AMIActionError(AMIError):
    """Asterisk answered ``Response: Error`` (or another non-success response)."""

    default_error_id = "ami.action_failed"

    def __init__(self, message: str, *, response: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.response = mask_headers(response or {})


class AMIValueError(AMIError, ValueError):
    """A request we refuse to send (a header value with a line break, bad arguments)."""

    default_error_id = "ami.invalid_value"


# --- wire helpers ----------------------------------------------------------

_VARIABLE_SPECIALS = re.compile(r'([\\,"()\[\]])')


def escape_variable_value(value: str) -> str:
    """Escape a value for an Originate ``Variable: NAME=value`` header.

    Asterisk splits that header like dialplan arguments (commas separate
    pairs; quotes, backslashes and brackets are syntax), so those characters
    get a backslash to arrive literally. Verified on Asterisk 16.28.
    """
    return _VARIABLE_SPECIALS.sub(r"\\\1", value)


def parse_message(text: str) -> Message | None:
    """One decoded AMI message as a panoramisk Message (repeated keys give lists)."""
    headers: dict[str, Any] = {}
    for line in re.split(r"\r?\n", text):
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            continue  # the banner, or an empty line
        if value.startswith(" "):
            value = value[1:]
        if key in headers:
            old = headers[key]
            headers[key] = (old if isinstance(old, list) else [old]) + [value]
        else:
            headers[key] = value
    message = Message(headers)
    if "Event" in message or "Response" in message:
        return message
    return None


def _flatten(message: Mapping[str, Any]) -> dict[str, str]:
    # panoramisk's Message adds a "content" key (a body of legacy replies): not a header.
    return {k: "\n".join(v) if isinstance(v, list) else str(v)
            for k, v in message.items() if k != "content"}


def _to_event(message: Mapping[str, Any]) -> AMIEvent:
    headers = _flatten(message)
    return AMIEvent(name=Headers(headers).get("Event", ""), headers=headers)


def _error_text(message: Mapping[str, Any]) -> str:
    flat = Headers(_flatten(message))
    text = flat.get("Message", "")
    output = flat.get("Output", "")
    if output and (not text or "follows" in text.lower()):
        text = output  # a failed CLI command says why in its output
    return text or f"Response: {flat.get('Response', '')}"


def _is_list_end(message: Mapping[str, Any]) -> bool:
    return (str(message.get("EventList", "")).lower() == "complete"
            or str(message.get("Event", "")).endswith("Complete"))


class _Action(actions.Action):
    """A panoramisk Action that completes on exactly what we asked for."""

    def add_message(self, message: Message) -> bool:
        self.responses.append(message)
        if self.future.done():  # timed out or cancelled meanwhile
            return True
        first = self.responses[0]
        if not self.as_list:
            self.future.set_result(message)
            return True
        if len(self.responses) == 1:
            is_list = (first.get("Response") == "Success"
                       and str(first.get("EventList", "")).lower() == "start")
            if not is_list:  # an error, or an action that lists nothing
                self.future.set_result(list(self.responses))
                return True
            return False
        if _is_list_end(message):
            self.future.set_result(list(self.responses))
            return True
        return False


class _AMIProtocol(AMIProtocol):
    """panoramisk's protocol, decoding whole messages and failing pending actions on loss."""

    closed: bool          # (set by panoramisk's connection_made)

    def __init__(self, log: logging.Logger) -> None:
        self._hlog = log
        self._buffer = bytearray()
        self._scan_from = 0
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.log = self._hlog
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        if self.version is None and not self._read_banner():
            return
        start = 0
        while (end := buf.find(_SEPARATOR, max(start, self._scan_from))) >= 0:
            self._handle_block(bytes(buf[start:end]))
            start = end + len(_SEPARATOR)
            if self.closed:
                break
        del buf[:start]
        self._scan_from = max(0, len(buf) - len(_SEPARATOR) + 1)
        if len(buf) > _MAX_MESSAGE:
            self._hlog.error("AMI message over %d bytes without an end; dropping the connection",
                             _MAX_MESSAGE)
            self.close()

    def _read_banner(self) -> bool:
        """Take ``Asterisk Call Manager/x.y.z`` off the buffer; False while it is incomplete."""
        buf = self._buffer
        if buf.startswith(_BANNER):
            eol = buf.find(b"\r\n")
            if eol < 0:
                return False
            self.version = buf[len(_BANNER):eol].decode("utf-8", "replace").strip()
            del buf[:eol + 2]
            self._hlog.debug("AMI protocol version %s", self.version)
        elif len(buf) < len(_BANNER) and _BANNER.startswith(bytes(buf)):
            return False
        else:
            self.version = ""  # no banner: parse anyway
        return True

    def _handle_block(self, raw: bytes) -> None:
        message = parse_message(raw.decode("utf-8", "replace"))
        if message is None:
            return
        try:
            self.handle_message(message)
        except Exception as exc:  # never let one message kill the connection
            _log_failure(self._hlog, "AMI message handling failed", exc)

    def forget(self, action: actions.Action) -> None:
        """Stop waiting for replies to `action` (it timed out)."""
        for key in (action.id, action.action_id):
            if self.responses.get(key) is action:
                del self.responses[key]

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        pending = {id(a): a for a in self.responses.values()}.values()
        self.responses.clear()
        for action in pending:
            if not action.future.done():
                action.future.set_exception(ConnectionResetError("AMI connection closed"))
        if not self.closed:
            self.closed = True
            self.transport.close()
        if not self.lost.done():
            self.lost.set_result(None)


class _Manager(Manager):
    """panoramisk's Manager used to send actions and dispatch events; no connection logic."""

    def __init__(self, on_message: Callable[[Message], None], log: logging.Logger) -> None:
        super().__init__(encoding="utf-8", log=log)
        self.register_event("*", lambda _manager, message: on_message(message))

    def attach(self, protocol: _AMIProtocol) -> None:
        self.protocol = protocol
        protocol.factory = self
        self.responses = protocol.responses

    def send_awaiting_actions(self, *_: Any) -> None:
        """Never replay actions after a reconnect (a replayed Originate is a second call)."""

    def connection_lost(self, exc: Any) -> None:
        """Reconnection is AMIClient's business."""


def _log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    tb = "".join(traceback.format_exception(exc))
    log.error("%s:\n%s", what, mask_free_text(tb))


@dataclass(eq=False)
class _Subscription:
    pattern: str
    callback: Callable[[Any], Awaitable[None] | None]
    kinds: tuple[type[PbxEvent], ...] = ()       # typed: the classes this subscription takes
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    warned: bool = False

    def matches(self, name: str) -> bool:
        if self.kinds:
            return False
        if self.pattern == "*":
            return True
        if any(c in self.pattern for c in "*?["):
            return fnmatch.fnmatchcase(name.lower(), self.pattern.lower())
        return name.lower() == self.pattern.lower()


# --- client ----------------------------------------------------------------

class AMIClient:
    """One AMI session to Asterisk, kept up with reconnection and typed calls."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_reconnect: Callable[[], Awaitable[None]] | None = None,
                 backoff: tuple[float, float] = (0.2, 5.0), ping_interval: float = 10.0,
                 action_timeout: float = 10.0, log: logging.Logger | None = None,
                 events: str = "on") -> None:
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self._events = events
        self._on_reconnect = on_reconnect
        self._backoff = (max(0.001, backoff[0]), max(backoff[0], backoff[1]))
        self._ping_interval = ping_interval
        self._action_timeout = action_timeout
        self._log = log or logging.getLogger(__name__)
        self._manager = _Manager(self._on_message, self._log)
        self._connected = asyncio.Event()
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None
        self._subs: list[_Subscription] = []

    # lifecycle

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect and log in; keeps the session up until `close`.

        Raises AMIConnectionError (``ami.login_failed`` for refused
        credentials, ``ami.connect_timeout`` otherwise) and stops trying if
        it cannot log in within `timeout`.
        """
        if self._runner is not None and not self._runner.done():
            await self.wait_connected(timeout)
            return
        self._closing = False
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(first), name=f"ami-{self._host}:{self._port}")
        try:
            await asyncio.wait_for(asyncio.shield(first), timeout)
        except TimeoutError:
            await self.close()
            raise AMIConnectionError(
                f"could not log in to {self._host}:{self._port} within {timeout:g}s",
                action="Login", error_id="ami.connect_timeout") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Log off, stop reconnecting and stop delivering events."""
        self._closing = True
        if self.connected:
            with contextlib.suppress(AMIError):
                await self._request("Logoff", {}, as_list=False, timeout=min(0.5, self._action_timeout))
        tasks = [t for t in (self._runner, self._resync) if t is not None]
        tasks += [s.worker for s in self._subs if s.worker is not None]
        self._runner = self._resync = None
        for sub in self._subs:
            sub.worker = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected.clear()
        protocol = self._manager.protocol
        if protocol is not None:
            protocol.close()

    async def __aenter__(self) -> AMIClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        """Wait until logged in; AMIConnectionError after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise AMIConnectionError(f"not connected to Asterisk within {timeout:g}s") from None

    async def _run(self, first: asyncio.Future[None]) -> None:
        try:
            await self._keep_connected(first)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: make it visible, and release connect()
            _log_failure(self._log, "AMI connection task failed", exc)
            if not first.done():
                first.set_exception(AMIConnectionError(f"AMI connection task failed: {exc!r}"))
        finally:
            self._connected.clear()

    async def _keep_connected(self, first: asyncio.Future[None]) -> None:
        delay = self._backoff[0]
        while not self._closing:
            try:
                protocol = await self._open()
            except AMIConnectionError as exc:
                if exc.error_id == "ami.login_failed" and not first.done():
                    first.set_exception(exc)
                    return
                self._log.warning("AMI login to %s:%d failed (%s); retrying in %.2fs",
                                  self._host, self._port, exc, delay)
            except OSError as exc:
                self._log.warning("AMI connect to %s:%d failed (%s); retrying in %.2fs",
                                  self._host, self._port, exc, delay)
            else:
                delay = self._backoff[0]
                self._connected.set()
                self._log.info("AMI logged in to %s:%d (Asterisk Call Manager/%s)",
                               self._host, self._port, protocol.version)
                if not first.done():
                    first.set_result(None)
                else:
                    self._start_resync()
                await self._watch(protocol)
                self._connected.clear()
                if self._closing:
                    return
                self._log.warning("AMI connection to %s:%d lost; reconnecting in %.2fs",
                                  self._host, self._port, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _open(self) -> _AMIProtocol:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _AMIProtocol(self._log), self._host, self._port),
                self._action_timeout)
        except TimeoutError:
            raise AMIConnectionError("TCP connect timed out", action="Login",
                                     error_id="ami.connect_timeout") from None
        self._manager.attach(protocol)
        try:
            await self._request("Login", {"Username": self._username, "Secret": self._secret,
                                          "Events": self._events}, as_list=False, login=True)
        except AMIActionError as exc:
            protocol.close()
            raise AMIConnectionError(exc.message, action="Login", params=exc.params,
                                     error_id="ami.login_failed") from None
        except BaseException:
            protocol.close()
            raise
        return protocol

    async def _watch(self, protocol: _AMIProtocol) -> None:
        """Return when the connection is lost; ping it meanwhile, and drop it if pings fail."""
        while True:
            done, _ = await asyncio.wait({protocol.lost}, timeout=self._ping_interval)
            if done:
                return
            try:
                await self._request("Ping", {}, as_list=False,
                                    timeout=min(self._action_timeout, self._ping_interval))
            except AMIActionError as exc:
                self._log.warning("AMI ping answered with an error: %s", exc)
            except AMIError as exc:
                if not protocol.lost.done():
                    self._log.warning("AMI ping failed (%s); dropping the connection", exc.error_id)
                    protocol.close()
                return

    def _start_resync(self) -> None:
        if self._on_reconnect is None:
            return
        if self._resync is not None and not self._resync.done():
            self._log.warning("AMI on_reconnect from the previous connection still running; cancelling it")
            self._resync.cancel()
        self._resync = asyncio.create_task(self._call_on_reconnect(), name="ami-on-reconnect")

    async def _call_on_reconnect(self) -> None:
        assert self._on_reconnect is not None
        try:
            await self._on_reconnect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log_failure(self._log, "AMI on_reconnect callback failed", exc)

    # events

    def on_event(self, pattern: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` for each event named `pattern` ("*" for all; case-insensitive).

        Events reach one subscription in the order Asterisk sent them; a
        coroutine callback is awaited before the next event. Exceptions are
        logged. Returns a function that unsubscribes.
        """
        return self._add(_Subscription(pattern, callback))

    @overload
    def subscribe(self, kinds: type[E], handler: Handler[E]) -> Callable[[], None]: ...
    @overload
    def subscribe(self, kinds: tuple[type[E]], handler: Handler[E]) -> Callable[[], None]: ...
    @overload
    def subscribe(self, kinds: tuple[type[E], type[E2]], handler: Handler[E | E2]) -> Callable[[], None]: ...
    @overload
    def subscribe(self, kinds: tuple[type[E], type[E2], type[E3]],
                  handler: Handler[E | E2 | E3]) -> Callable[[], None]: ...
    @overload
    def subscribe(self, kinds: tuple[type[E], type[E2], type[E3], type[E4]],
                  handler: Handler[E | E2 | E3 | E4]) -> Callable[[], None]: ...
    @overload
    def subscribe(self, kinds: tuple[type[E], type[E2], type[E3], type[E4], type[E5]],
                  handler: Handler[E | E2 | E3 | E4 | E5]) -> Callable[[], None]: ...

    def subscribe(self, kinds: type[PbxEvent] | tuple[type[PbxEvent], ...],
                  handler: Callable[[Any], Awaitable[None] | None]) -> Callable[[], None]:
        """Call `handler` with each typed event (`pbx.events`) of the class(es) `kinds`.

        ``ami.subscribe(HotlineAnswered, handler)``; ``ami.subscribe((DialEnd, Hangup), handler)``
        for a handler that needs several kinds in the order Asterisk sent them (one subscription,
        one queue). Delivery as for `on_event`. Returns a function that unsubscribes.
        """
        classes = kinds if isinstance(kinds, tuple) else (kinds,)
        if not classes:
            raise ValueError("subscribe: no event class given")
        label = ",".join(c.NAME for c in classes)
        return self._add(_Subscription(label, handler, kinds=classes))

    def _add(self, sub: _Subscription) -> Callable[[], None]:
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
            if sub.worker is not None:
                sub.worker.cancel()
                sub.worker = None

        return unsubscribe

    def _on_message(self, message: Message) -> None:
        """Called by panoramisk's dispatcher for every event no action claimed."""
        event = _to_event(message)
        typed: PbxEvent | None = None
        parsed = False
        for sub in list(self._subs):
            item: Any = event
            if sub.kinds:
                if not parsed:
                    typed, parsed = parse_event(event), True
                if not isinstance(typed, sub.kinds):
                    continue
                item = typed
            elif not sub.matches(event.name):
                continue
            sub.queue.put_nowait(item)
            if sub.worker is None or sub.worker.done():
                sub.worker = asyncio.get_running_loop().create_task(
                    self._deliver(sub), name=f"ami-events-{sub.pattern}")
            if sub.queue.qsize() > _QUEUE_WARN and not sub.warned:
                sub.warned = True
                self._log.warning("AMI subscriber %s for %r is %d events behind",
                                  _name(sub.callback), sub.pattern, sub.queue.qsize())

    async def _deliver(self, sub: _Subscription) -> None:
        while True:
            event = await sub.queue.get()
            try:
                result = sub.callback(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                what = event.name if isinstance(event, AMIEvent) else type(event).__name__
                _log_failure(self._log, f"AMI event callback {_name(sub.callback)} failed on "
                                        f"{what} event", exc)
            if sub.warned and sub.queue.qsize() < _QUEUE_WARN // 2:
                sub.warned = False

    # requests

    async def _request(self, name: str, params: Mapping[str, Any], *, as_list: bool,
                       timeout: float | None = None, login: bool = False) -> list[Message]:
        """Send one action; return its reply messages (the first is the Response)."""
        headers = _headers(name, params)
        protocol = self._manager.protocol
        if protocol is None or protocol.closed or not (login or self.connected):
            raise AMIConnectionError("not connected to Asterisk", action=name, params=params,
                                     error_id="ami.not_connected")
        action = _Action(headers)
        limit = self._action_timeout if timeout is None else timeout
        self._log.debug("AMI action %s %s", name, mask_headers(params))
        future = self._manager.send_action(action, as_list=as_list)
        try:
            reply = await asyncio.wait_for(future, limit)
        except TimeoutError:
            protocol.forget(action)
            raise AMITimeoutError(f"no reply within {limit:g}s", action=name, params=params) from None
        except ConnectionError:
            raise AMIConnectionError("connection lost during the action", action=name,
                                     params=params, error_id="ami.connection_lost") from None
        except asyncio.CancelledError:
            protocol.forget(action)
            raise
        messages = reply if isinstance(reply, list) else [reply]
        first = messages[0]
        if first.get("Response") not in _SUCCESS:
            raise AMIActionError(_error_text(first), action=name, params=params,
                                 response=_flatten(first))
        return messages

    async def action(self, name: str, **params: Any) -> dict[str, str]:
        """Send any action; its Response headers (repeated headers joined by "\\n").

        None values are left out; lists become repeated headers.
        """
        messages = await self._request(name, params, as_list=False)
        return _flatten(messages[0])

    async def action_list(self, name: str, **params: Any) -> list[AMIEvent]:
        """Send an action answered by an event list; the items (without the Complete event)."""
        messages = await self._request(name, params, as_list=True)
        items = messages[1:]
        if items and _is_list_end(items[-1]):
            items = items[:-1]
        return [_to_event(m) for m in items]

    async def originate(self, channel: str, *, context: str | None = None, exten: str | None = None,
                        priority: int | str = 1, application: str | None = None,
                        data: str | None = None, caller_id: str | None = None,
                        variables: Mapping[str, str] | None = None, timeout_ms: int = 30000,
                        channel_id: str | None = None, other_channel_id: str | None = None,
                        async_: bool = True) -> dict[str, str]:
        """Originate a call to dialplan (context/exten/priority) or to an application.

        With ``async_`` (the default) this returns when Asterisk has queued
        the call; its outcome comes later as an ``OriginateResponse`` event
        carrying the returned ActionID (and Uniqueid = `channel_id`).
        Variable values go through intact (commas, quotes, Chinese).
        """
        params: dict[str, Any] = {"Channel": channel}
        if application is not None:
            if context is not None or exten is not None:
                raise AMIValueError("give either application or context/exten, not both",
                                    action="Originate", params={"Channel": channel})
            params.update(Application=application, Data=data)
        elif context is not None and exten is not None:
            params.update(Context=context, Exten=exten, Priority=priority)
        else:
            raise AMIValueError("Originate needs an application, or a context and an exten",
                                action="Originate", params={"Channel": channel})
        params.update(CallerID=caller_id, Timeout=int(timeout_ms), ChannelId=channel_id,
                      OtherChannelId=other_channel_id, Async="true" if async_ else "false")
        if variables:
            params["Variable"] = [_variable(k, v) for k, v in variables.items()]
        limit = self._action_timeout if async_ else self._action_timeout + timeout_ms / 1000
        messages = await self._request("Originate", params, as_list=False, timeout=limit)
        return _flatten(messages[0])

    async def redirect(self, channel: str, context: str, exten: str, priority: int | str = 1) -> None:
        await self.action("Redirect", Channel=channel, Context=context, Exten=exten, Priority=priority)

    async def setvar(self, channel: str, name: str, value: str) -> None:
        await self.action("Setvar", Channel=channel, Variable=name, Value=value)

    async def getvar(self, channel: str, name: str) -> str | None:
        """The variable's value; None when unset or empty (Asterisk does not tell them apart)."""
        reply = Headers(await self.action("Getvar", Channel=channel, Variable=name))
        return reply.get("Value") or None

    async def receive_dtmf(self, channel: str, digit: str, duration_ms: int = 100) -> None:
        """Make the channel hear a digit as if its caller had pressed it (PlayDTMF Receive): ends a
        RECORD FILE waiting on that escape digit even when no frames come (the caller's RTP stopped)."""
        if digit not in "0123456789*#" or len(digit) != 1:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        await self.action("PlayDTMF", Channel=channel, Digit=digit, Duration=int(duration_ms), Receive="yes")

    async def rtp_received(self, channel: str) -> int | None:
        """RTP packets the channel has received so far (PJSIP); None when it cannot tell."""
        try:
            value = await self.getvar(channel, "CHANNEL(rtcp,rxcount)")
        except AMIError:
            return None
        return int(value) if value and value.strip().isdigit() else None

    async def hangup(self, channel: str, cause: int | None = None) -> None:
        await self.action("Hangup", Channel=channel, Cause=cause)

    async def command(self, cli: str) -> str:
        """Run a CLI command; its output text. A failed command raises AMIActionError."""
        return Headers(await self.action("Command", Command=cli)).get("Output", "")

    async def dialplan_reload(self) -> None:
        """Reload extensions.conf (pbx_config); errors such as "No such module" raise."""
        await self.reload("pbx_config.so")

    async def reload(self, module: str | None = None) -> None:
        await self.action("Reload", Module=module)

    async def queue_status(self, queue: str | None = None) -> list[QueueItem]:
        """The queues' parameters, members and callers (QueueParams, QueueMember, QueueEntry)."""
        return queue_items(await self.action_list("QueueStatus", Queue=queue))

    async def core_show_channels(self) -> list[CoreShowChannel]:
        """The channels up now."""
        return [CoreShowChannel.from_headers(e.headers) for e in await self.action_list("CoreShowChannels")]

    async def wait_fully_booted(self, timeout: float = 30.0) -> None:
        """Return once Asterisk has loaded every module (AMI answers earlier than that after a restart)."""
        await self._request("Command", {"Command": "core waitfullybooted"}, as_list=False, timeout=timeout)

    async def device_state(self, device: str) -> DeviceState:
        """A device's state (``PJSIP/1005`` -> NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ...)."""
        reply = Headers(await self.action("Getvar", Variable=f"DEVICE_STATE({device})"))
        return DeviceState.parse(reply.get("Value"))

    async def confbridge_list(self, conference: str) -> list[ConfbridgeMember]:
        """The conference's members; an unknown conference raises AMIActionError."""
        return [ConfbridgeMember.from_headers(e.headers)
                for e in await self.action_list("ConfbridgeList", Conference=conference)]

    async def confbridge_kick(self, conference: str, channel: str) -> None:
        await self.action("ConfbridgeKick", Conference=conference, Channel=channel)

    async def user_event(self, name: str, **headers: Any) -> None:
        await self.action("UserEvent", UserEvent=name, **headers)

    async def ping(self) -> None:
        await self.action("Ping")


def _name(callback: Any) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)


def _variable(name: str, value: Any) -> str:
    if not name or not _KEY.fullmatch(name):
        raise AMIValueError(f"bad channel variable name {name!r}", action="Originate")
    return f"{name}={escape_variable_value(str(value))}"


def _headers(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Action headers from keyword parameters; refuses anything that could break the framing."""
    if not _KEY.fullmatch(name):
        raise AMIValueError(f"bad action name {name!r}")
    headers: dict[str, Any] = {"Action": name}
    for key, value in params.items():
        if value is None:
            continue
        if not _KEY.fullmatch(key):
            raise AMIValueError(f"bad header name {key!r}", action=name, params=params)
        values = value if isinstance(value, (list, tuple)) else [value]
        texts = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
        for text in texts:
            if "\r" in text or "\n" in text:
                raise AMIValueError(f"line break in the {key} header", action=name, params=params)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise AMIValueError(f"{key} is not encodable as UTF-8", action=name,
                                    params=params) from None
        headers[key] = texts if isinstance(value, (list, tuple)) else texts[0]
    return headers
