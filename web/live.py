"""Live events to the browsers: one WebSocket per page at GET /ws.

One reader per application follows Redis — the pub/sub channel
`hotline:live` (screen_pop, draft_ticket, published by the call handlers)
and the routing engine's event stream `hotline:events` (seat_state,
call_* ...) — and fans each event out to the connected pages. Every page has
its own bounded queue and its own writer task: putting an event in a queue
never waits, so a slow or dead browser cannot delay the others or the reader.
When a page's queue is full its oldest message is discarded (counted); a page
whose socket has not taken a frame for `send_timeout_s` is disconnected.

Batching, so the fan-out cannot starve call handling on the same event loop:
the reader only appends to the pages' queues, and each page's writer sends
everything queued for its page in ONE frame. A page whose last frame is older
than `flush_s` is woken at once (a console seeing a call now and then gets it
without delay); one that has just had a frame is left to the flusher task,
which wakes such pages together every `flush_s` while events keep coming — so
a busy page gets about one frame per `flush_s`, whatever the event rate. The
flusher also checks, once per tick (no timer per message), that no page has
been stuck in a send for longer than `send_timeout_s`. Frames are not compressed: deflating each
frame once per page costs event-loop CPU for little gain on small JSON.

Who gets what: supervisors and admins every event; an operator only the
events of the seat they are logged in to (followed from seat_state events)
or that name their operator id. A draft_ticket event names only its call: its
seat is the one the call was offered to (remembered from screen_pop and
call_assigned, else asked of the Router).

    app = create_app(..., routes=[..., live_routes(redis, router=router)])
    # the bundle's cleanup context starts the readers and closes the sockets at shutdown

Who may keep a page open is re-checked all the time, not only at connect: the
hub follows `web:sessions:ended` (web/sessions.py: logout, revocation, account
disabled or role changed on ANY node) and closes the pages concerned at once;
every `recheck_s` it also checks each page's session (idle and absolute
expiry, logged out elsewhere) and account (disabled, role or operator id
changed), so a page never outlives the rights it was opened with. A closed
page gets close code 4401 and reconnects through a fresh login check.

Each event is a JSON object: its own fields plus `src` ("live" or "events")
and, for stream events, `id` (the stream id). A frame holds either ONE such
object (one event was queued) or a JSON ARRAY of them, oldest first (several
were): pages must accept both, e.g. `for ev in (Array.isArray(d) ? d : [d])`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kernel.loops import raise_if_cancelled
from kernel.notify import LIVE_CHANNEL
from web.access import CleanupContext, RouteBundle, RouteTable, current_user, principal
from web.accounts import Role, User
from web.auth import token_digest
from web.errors import ApiError
from web.keys import ACCOUNTS, LIVE, LIVE_SETTINGS, METRICS, SESSIONS
from web.metrics import Metrics
from web.sessions import ENDED_CHANNEL

log = logging.getLogger("web.live")

SEAT_EVENTS = frozenset({"screen_pop", "draft_ticket", "transcript", "emergency_alert"})   # name only their call


@dataclass(frozen=True)
class LiveSettings:
    channel: str = LIVE_CHANNEL
    prefix: str = "hotline"           # the routing engine's key prefix (stream <prefix>:events)
    queue_size: int = 256             # messages waiting per page before the oldest are discarded
    send_timeout_s: float = 10.0      # a page that takes no frame for this long is disconnected
    flush_s: float = 0.05             # while events keep coming, a page gets about one frame per this
    heartbeat_s: float = 30.0
    remember_calls: int = 10_000      # call id -> seat, for draft_ticket events
    recheck_s: float = 5.0            # each page's session and account checked this often
    max_message_bytes: int = 4096     # pages send nothing we use: a larger frame closes the socket


@dataclass(eq=False)
class Client:
    """One connected page."""

    user: User
    ws: web.WebSocketResponse
    seat: str | None = None
    transport: Any = None             # the connection (to drop it at once)
    discarded: int = 0
    pending: deque[tuple[float, str]] = field(default_factory=deque)   # (read off Redis at, JSON text)
    wake: asyncio.Event = field(default_factory=asyncio.Event)         # set by the flusher
    sending_since: float | None = None    # monotonic start of the frame in flight
    last_sent: float = 0.0                # monotonic end of the last frame
    writer: asyncio.Task | None = None
    session: str = ""                     # the digest of the page's session (web/sessions.py)
    closing: bool = False

    @property
    def sees_all(self) -> bool:
        return self.user.role >= Role.SUPERVISOR

    def wants(self, event: dict[str, Any], seat: str | None) -> bool:
        if self.sees_all:
            return True
        op = self.user.operator_id
        if op and (event.get("operator_id") == op or event.get("operator") == op):
            return True
        return seat is not None and seat == self.seat


class LiveHub:
    """The reader tasks and the connected pages of one application."""

    def __init__(self, redis: aioredis.Redis, metrics: Metrics, settings: LiveSettings = LiveSettings(),
                 router: Any = None, sessions: Any = None, accounts: Any = None) -> None:
        self.redis = redis
        self.sessions = sessions          # web.sessions.SessionStore (re-checks); None: pub/sub only
        self.accounts = accounts          # web.accounts.Accounts
        self.settings = settings
        self.router = router
        self.clients: set[Client] = set()
        self.tasks: list[asyncio.Task] = []
        self._dirty: set[Client] = set()           # pages with something queued, not yet woken
        self._work = asyncio.Event()                # the flusher's wake-up after a quiet spell
        self._calls: OrderedDict[str, str] = OrderedDict()
        self.messages = metrics.counter("hotline_ws_messages_total",
                                        "Live messages to pages: delivered, or discarded (page too slow)",
                                        ("result",))
        self.drops = metrics.counter("hotline_ws_clients_dropped_total",
                                     "Pages disconnected for not taking messages", ())
        self.latency = metrics.histogram("hotline_ws_delivery_seconds",
                                         "From the event read off Redis to the message written to the socket",
                                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0))
        self.events_in = metrics.counter("hotline_ws_events_total", "Events read off Redis", ("src",))
        self.kicked = metrics.counter("hotline_ws_closed_total",
                                      "Pages closed because their session or account changed", ("reason",))
        metrics.callback("hotline_ws_clients", "Connected live pages", fn=lambda: float(len(self.clients)))

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._follow_channel(), name="live-channel"),
                      asyncio.create_task(self._follow_stream(), name="live-stream"),
                      asyncio.create_task(self.flusher(), name="live-flusher"),
                      asyncio.create_task(self._recheck(), name="live-recheck")]
        for t in self.tasks:
            t.add_done_callback(_report)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await c.ws.close(code=1001, message="服务器关闭".encode())
        self.clients.clear()
        self._dirty.clear()

    # ------------------------------------------------------------ reading Redis
    async def _follow_channel(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.settings.channel, ENDED_CHANNEL)
                while True:
                    raise_if_cancelled()
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    data = msg["data"]
                    channel = msg.get("channel")
                    if (channel.decode() if isinstance(channel, bytes) else channel) == ENDED_CHANNEL:
                        self.sessions_ended(data)
                        continue
                    try:
                        event = json.loads(data.decode() if isinstance(data, bytes) else data)
                    except ValueError:
                        log.warning("live: a message on %s is not JSON; skipped", self.settings.channel)
                        continue
                    if isinstance(event, dict):
                        self.events_in.inc(src="live")
                        await self.dispatch(event, "live")
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise_if_cancelled(exc)
                log.warning("live: redis channel lost (%s); subscribing again", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _follow_stream(self) -> None:
        key = f"{self.settings.prefix}:events"
        last = "$"
        while True:
            raise_if_cancelled()
            try:
                got: Any = await self.redis.xread({key: last}, count=500, block=1000)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise_if_cancelled(exc)
                log.warning("live: redis stream read failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in cast(Any, got) or []:
                for eid, fields in entries:
                    last = eid.decode() if isinstance(eid, bytes) else eid
                    raw = fields.get("json") or fields.get(b"json")
                    try:
                        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
                    except (TypeError, ValueError):
                        log.warning("live: stream entry %s has no JSON; skipped", last)
                        continue
                    event["id"] = last
                    self.events_in.inc(src="events")
                    await self.dispatch(event, "events")

    # ------------------------------------------------------------ re-authorisation
    def sessions_ended(self, data: Any) -> None:
        """A `web:sessions:ended` message: close the pages of those sessions or of that user."""
        try:
            msg = json.loads(data.decode() if isinstance(data, bytes) else data)
            sessions, user = set(msg.get("sessions") or ()), str(msg.get("user") or "")
        except (ValueError, AttributeError, TypeError):
            return
        for c in list(self.clients):
            if c.session in sessions or (user and c.user.id == user):
                self.kick(c, str(msg.get("reason") or "ended"))

    def kick(self, c: Client, reason: str) -> None:
        """Close a page whose rights have ended (code 4401); it is gone from the fan-out at once."""
        if c.closing:
            return
        c.closing = True
        self.leave(c)
        self.kicked.inc(reason=reason)
        log.info("live: page of %s closed (%s)", c.user.username, reason)
        asyncio.get_running_loop().create_task(_close(c, reason))

    async def _recheck(self) -> None:
        """Every `recheck_s`: each page's session still stands and its account is unchanged."""
        while True:
            await asyncio.sleep(self.settings.recheck_s)
            if self.sessions is None or self.accounts is None:
                continue
            for c in list(self.clients):
                try:
                    if not c.session or not await self.sessions.alive(c.session, c.user.id):
                        self.kick(c, "session_ended")
                        continue
                    now = await self.accounts.get(c.user.id)
                    if (now is None or now.disabled or now.role is not c.user.role
                            or now.operator_id != c.user.operator_id):
                        self.kick(c, "account_changed")
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    log.warning("live: cannot re-check pages (%s)", exc)
                    break

    # ------------------------------------------------------------ fan-out
    async def seat_of(self, event: dict[str, Any]) -> str | None:
        seat = event.get("seat") or event.get("seat_id") or None
        call_id = event.get("call_id")
        if seat and call_id and event.get("type") in ("screen_pop", "call_assigned"):
            self._calls[call_id] = seat
            self._calls.move_to_end(call_id)
            while len(self._calls) > self.settings.remember_calls:
                self._calls.popitem(last=False)
        if seat is None and call_id and event.get("type") in SEAT_EVENTS:
            seat = self._calls.get(call_id)
            if seat is None and self.router is not None and any(not c.sees_all for c in self.clients):
                st = await self.router.call(call_id)
                seat = (st.seat_id or None) if st is not None else None
        return seat

    async def dispatch(self, event: dict[str, Any], src: str) -> None:
        """Hand one event to every page that may see it; never waits on a page."""
        received = time.monotonic()
        seat = await self.seat_of(event)
        if event.get("type") == "seat_state":
            self._follow_operator(event)
        text = json.dumps({**event, "src": src}, ensure_ascii=False)
        for c in self.clients:
            if c.wants(event, seat):
                self.offer(c, received, text)

    def offer(self, c: Client, received: float, text: str) -> None:
        """Queue one message for the page (never waits); a full queue loses its oldest."""
        c.pending.append((received, text))
        if len(c.pending) > self.settings.queue_size:
            c.pending.popleft()
            c.discarded += 1
            self.messages.inc(result="discarded")
        if c.sending_since is None and received - c.last_sent >= self.settings.flush_s:
            c.wake.set()                     # a quiet page: now (what else comes before it runs joins in)
        else:
            self._dirty.add(c)               # a busy one: at the flusher's next tick
            self._work.set()

    def _follow_operator(self, event: dict[str, Any]) -> None:
        """Keep each operator page's seat in step with logins and logouts."""
        op = event.get("operator_id")
        if not op:
            return
        for c in self.clients:
            if c.user.operator_id == op and not c.sees_all:
                c.seat = None if event.get("to") == "logged_out" else event.get("seat_id") or c.seat

    def join(self, c: Client) -> asyncio.Task:
        """Connect a page: it receives events from now on; returns its writer task, which
        drops the connection when it ends."""
        self.clients.add(c)
        c.writer = asyncio.create_task(self.pump(c), name=f"live-{c.user.username}")
        c.writer.add_done_callback(lambda _t: _abort(c))
        return c.writer

    def leave(self, c: Client) -> None:
        self.clients.discard(c)
        self._dirty.discard(c)
        if c.writer is not None:
            c.writer.cancel()

    async def flusher(self) -> None:
        """Every `flush_s` while there are any, wake the writers of the busy pages with
        something queued (what arrived since their last frame goes out in one); and drop
        the pages stuck in a send too long."""
        s = self.settings
        idle_check = min(1.0, s.send_timeout_s / 4)
        next_check = 0.0
        while True:
            if not self._dirty:
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle_check):
                        await self._work.wait()
            if self._dirty:
                dirty, self._dirty = self._dirty, set()
                for c in dirty:
                    c.wake.set()
            now = time.monotonic()
            if now >= next_check:
                next_check = now + idle_check
                self.drop_stuck(now)
            await asyncio.sleep(s.flush_s)

    def drop_stuck(self, now: float) -> None:
        """Disconnect the pages whose socket has not taken a frame for `send_timeout_s`."""
        limit = self.settings.send_timeout_s
        for c in list(self.clients):
            since = c.sending_since
            if since is not None and now - since > limit and c.writer is not None and not c.writer.done():
                self.drops.inc()
                log.info("live: page of %s took no message for %.0f s; disconnected", c.user.username, limit)
                c.writer.cancel()

    async def pump(self, c: Client) -> None:
        """The page's writer: on each wake-up, everything queued for the page in one frame
        (one JSON object, or an array when several are queued), in order."""
        while True:
            await c.wake.wait()
            c.wake.clear()
            if not c.pending:
                continue
            batch = list(c.pending)
            c.pending.clear()
            frame = batch[0][1] if len(batch) == 1 else "[" + ",".join(text for _r, text in batch) + "]"
            c.sending_since = time.monotonic()
            try:
                await c.ws.send_str(frame)
            except ConnectionError:
                return
            finally:
                c.sending_since = None
            c.last_sent = now = time.monotonic()
            self.messages.inc(len(batch), result="delivered")
            for received, _text in batch:
                self.latency.observe(now - received)

    async def initial_seat(self, user: User) -> str | None:
        if user.role >= Role.SUPERVISOR or not user.operator_id:
            return None
        if self.router is not None:
            seat = await self.router.store.operator_seat(user.operator_id)
            if seat:
                return seat
        return user.seat


def _abort(client: Client) -> None:
    """Drop the connection at once (a page that reads nothing would never let close() finish)."""
    if client.transport is not None and not client.transport.is_closing():
        client.transport.abort()


async def _close(c: Client, reason: str) -> None:
    """Close with 4401; a page that does not answer the close within a second is dropped."""
    try:
        async with asyncio.timeout(1.0):
            await c.ws.close(code=4401, message=reason.encode())
    except Exception:
        log.debug("live: close of a page failed; dropped", exc_info=True)
        _abort(c)


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live: %s ended", task.get_name(), exc_info=task.exception())


routes = RouteTable(tag="live")


class LiveRoutes(RouteBundle):
    """The live bundle. `cleanup_ctx` is its hub's context, which create_app installs already;
    a composition that still adds it by hand does no harm (one hub per application)."""

    @property
    def cleanup_ctx(self) -> CleanupContext:
        return self.contexts[0]


def live_routes(redis: aioredis.Redis, *, router: Any = None, settings: LiveSettings = LiveSettings()) -> LiveRoutes:
    """The live WebSocket route and the hub that feeds it (a cleanup context, installed by
    create_app). `router` (agents.service.Router), when given, finds an operator's seat at
    connection and the seat of a draft_ticket's call."""
    return LiveRoutes(routes, {LIVE_SETTINGS: settings}, (_hub(redis, settings, router),))


def _hub(redis: aioredis.Redis, settings: LiveSettings, router: Any) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if LIVE in app:                  # one hub per application
            yield
            return
        hub = LiveHub(redis, app[METRICS], settings, router, sessions=app.get(SESSIONS), accounts=app.get(ACCOUNTS))
        app[LIVE] = hub
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
    return ctx


@routes.get("/ws", summary="实时事件（WebSocket）：话务员只收到本人坐席的事件，班长与管理员收到全部",
            role=Role.OPERATOR, status=101, content_type="application/json", errors=(503,),
            description="来电弹屏 screen_pop、工单草稿 draft_ticket、坐席状态 seat_state 与通话事件；"
                        "每帧为单个事件（JSON 对象），或积压时的多个事件（JSON 数组，按先后排列）；"
                        "须同源（校验 Origin）。")
async def live_socket(request: web.Request) -> web.StreamResponse:
    hub = request.app.get(LIVE)
    if hub is None:
        raise ApiError(503, "unavailable", "实时推送暂不可用")
    settings = request.app[LIVE_SETTINGS]
    user = current_user(request)
    who = principal(request)
    ws = web.WebSocketResponse(heartbeat=settings.heartbeat_s, max_msg_size=settings.max_message_bytes,
                               compress=False)
    await ws.prepare(request)
    client = Client(user, ws, seat=await hub.initial_seat(user), transport=request.transport,
                    session=token_digest(who.session.token) if who is not None else "")
    writer = hub.join(client)
    try:
        await ws.send_str(json.dumps({"type": "hello", "src": "live", "seat": client.seat,
                                      "role": user.role.id}, ensure_ascii=False))
        async for _msg in ws:             # pages send nothing we use; a close ends the loop
            pass
    finally:
        hub.leave(client)
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        if not ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await ws.close()
    return ws
