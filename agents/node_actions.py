"""Node-aware actions: an action on a call runs on the node that owns it.

A call's channels are on the Asterisk of the controller ("node") holding its
AGI session (agents/nodes.py). An operator's web request may reach any node's
web app, so supervise, transfer, hang-up and live capture go through this
channel:

    await actions.call(node, "hangup", {"seat": "1001", "call_id": "…", "leg": "seat"}, timeout=5)

runs the registered handler at once when ``node`` is this node (or empty: no
owner recorded); otherwise the request goes on that node's list in Redis
(``<prefix>:actions:<node>``) where its `run` task takes it, runs the handler
and pushes the reply on ``<prefix>:action_reply:<request id>`` (with a TTL).
A node that does not answer within ``timeout`` raises `NodeUnavailable`; a
handler's refusal comes back as `ActionRefused` with its HTTP status, error id
and message.

Only the actions named in `ACTIONS` exist, and every payload is checked
against its action's fields (names, patterns) on both sides: nothing else
reaches a handler. The encoding and checks are pure (`check_payload`,
`encode_request`, `decode_request`, `encode_reply`, `decode_reply`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kernel.errors import HotlineError
from kernel.loops import raise_if_cancelled

log = logging.getLogger("agents.node_actions")

# the fields' patterns: ids as the web schemas and the seats config allow them, nothing else
_P = {name: re.compile(rx) for name, rx in {
    "seat": r"^[A-Za-z0-9_.-]{1,32}$", "call": r"^[A-Za-z0-9_.;-]{1,80}$", "number": r"^\+?[0-9]{1,32}$",
    "word": r"^[a-z_]{1,16}$", "node": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", "req": r"^[0-9a-f]{32}$"}.items()}
_SEAT, _CALL, _NUMBER, _WORD, _NODE, _REQ_ID = (_P[k] for k in ("seat", "call", "number", "word", "node", "req"))

# action -> field -> (pattern, required)
ACTIONS: Mapping[str, Mapping[str, tuple[re.Pattern[str], bool]]] = {
    "supervise": {"seat": (_SEAT, True), "call_id": (_CALL, False), "mode": (_WORD, True),
                  "phone": (_SEAT, False), "number": (_NUMBER, False),
                  "spy": (re.compile(r"^spy-[A-Za-z0-9_.-]{1,60}$"), True)},
    "transfer": {"seat": (_SEAT, True), "call_id": (_CALL, False), "by": (re.compile(r"^[A-Za-z0-9_.@-]{1,64}$"), True),
                 "target": (_SEAT, True), "mode": (_WORD, False)},
    "hangup": {"seat": (_SEAT, True), "call_id": (_CALL, False), "leg": (re.compile(r"^(seat|target)$"), True)},
    "live_capture": {"call_id": (_CALL, True), "on": (re.compile(r"^[01]$"), True)},
}
REPLY_TTL_S = 60
WAIT_SLICE_S = 1.0       # longest blocking read (well under the Redis client's socket timeout)
NODE_UNAVAILABLE_MESSAGE = "通话所在节点未响应，请稍后再试"

Handler = Callable[[dict[str, str]], Awaitable[Any]]
ErrorStatus = Callable[[Exception], tuple[int, str, str, Mapping[str, Any]] | None]


class NodeActionError(HotlineError):
    error_id = "node_action"


class BadAction(NodeActionError):
    """An action not in the whitelist, or a payload that does not fit it."""

    error_id = "bad_action"


class NodeUnavailable(NodeActionError):
    """The owning node did not answer in time (its controller is gone or stuck)."""

    error_id = "node_unavailable"

    def __init__(self, node: str, action: str) -> None:
        super().__init__(NODE_UNAVAILABLE_MESSAGE, text=f"node {node}: no answer to {action}")
        self.node = node
        self.status = 503
        self.details = {"node": node, "action": action}


class ActionRefused(NodeActionError):
    """The owning node's handler refused: its status, error id, message and details."""

    def __init__(self, status: int, error_id: str, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message, error_id=error_id)
        self.status = status
        self.details = dict(details)


# ------------------------------------------------------------------ pure parts

def check_payload(action: str, payload: Mapping[str, Any]) -> dict[str, str]:
    """The payload as the action's handler gets it: known fields only, each a string matching its pattern."""
    fields = ACTIONS.get(action)
    if fields is None:
        raise BadAction(f"unknown action {action!r}")
    out: dict[str, str] = {}
    for name, value in payload.items():
        if value is None:
            continue
        spec = fields.get(name)
        if spec is None:
            raise BadAction(f"{action}: unknown field {name!r}")
        if isinstance(value, bool):
            value = "1" if value else "0"
        if not isinstance(value, str) or not spec[0].fullmatch(value):
            raise BadAction(f"{action}: field {name!r} refused")
        out[name] = value
    missing = [n for n, (_, required) in fields.items() if required and n not in out]
    if missing:
        raise BadAction(f"{action}: missing {', '.join(missing)}")
    return out


def encode_request(req_id: str, action: str, payload: Mapping[str, str], reply_to: str, deadline: float) -> str:
    return json.dumps({"id": req_id, "action": action, "payload": dict(payload), "reply_to": reply_to,
                       "deadline": deadline}, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Request:
    id: str
    action: str
    payload: dict[str, str]
    reply_to: str
    deadline: float


def decode_request(raw: str | bytes, reply_prefix: str) -> Request:
    """A request taken from a node's list; BadAction when it is not one we would have sent."""
    try:
        d = json.loads(raw)
        req_id, action, reply_to = str(d["id"]), str(d["action"]), str(d["reply_to"])
        payload, deadline = d["payload"], float(d["deadline"])
    except (ValueError, KeyError, TypeError):
        raise BadAction("malformed request") from None
    if not _REQ_ID.fullmatch(req_id) or reply_to != reply_prefix + req_id or not isinstance(payload, dict):
        raise BadAction("malformed request")
    return Request(req_id, action, check_payload(action, payload), reply_to, deadline)


def encode_reply(result: Any = None, *, error: tuple[int, str, str, Mapping[str, Any]] | None = None) -> str:
    if error is not None:
        status, error_id, message, details = error
        body: dict[str, Any] = {"ok": False, "status": status, "error": error_id, "message": message,
                                "details": dict(details)}
    else:
        body = {"ok": True, "result": result}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def decode_reply(raw: str | bytes) -> Any:
    """The handler's result, or ActionRefused as the owner node said."""
    d = json.loads(raw)
    if d.get("ok"):
        return d.get("result")
    raise ActionRefused(int(d.get("status") or 409), str(d.get("error") or "error"),
                        str(d.get("message") or "操作失败"), d.get("details") or {})


def default_status(exc: Exception) -> tuple[int, str, str, Mapping[str, Any]] | None:
    """A refusal's (status, error id, message, details) when the handler's error says so; None: a fault."""
    if isinstance(exc, HotlineError):
        status = getattr(exc, "status", 409)
        return (status if isinstance(status, int) else 409, exc.error_id, exc.message or str(exc),
                getattr(exc, "details", {}) or {})
    return None


# ------------------------------------------------------------------ the channel

class NodeActions:
    """This node's end of the channel: the registered handlers, the caller and the runner."""

    def __init__(self, redis: Any, node: str, *, prefix: str = "hotline", error_status: ErrorStatus = default_status,
                 clock: Callable[[], float] = time.time) -> None:
        if not _NODE.fullmatch(node):
            raise ValueError(f"node id {node!r}")
        self.r = redis
        self.node = node
        self.prefix = prefix
        self.error_status = error_status
        self.clock = clock
        self.handlers: dict[str, Handler] = {}
        self.served = 0                       # requests from other nodes this node answered

    def inbox(self, node: str) -> str:
        return f"{self.prefix}:actions:{node}"

    @property
    def reply_prefix(self) -> str:
        return f"{self.prefix}:action_reply:"

    def register(self, action: str, handler: Handler) -> None:
        if action not in ACTIONS:
            raise ValueError(f"action {action!r} is not in the whitelist")
        self.handlers[action] = handler

    async def call(self, node: str, action: str, payload: Mapping[str, Any], timeout: float = 5.0) -> Any:
        """Run ``action`` where ``node`` is (here when it is this node or no node is known)."""
        checked = check_payload(action, payload)
        if not node or node == self.node:
            handler = self.handlers.get(action)
            if handler is None:
                raise BadAction(f"no handler for {action} on this node")
            return await handler(checked)
        if not _NODE.fullmatch(node):
            raise BadAction(f"node id {node!r}")
        req_id = uuid.uuid4().hex
        reply_to = self.reply_prefix + req_id
        deadline = self.clock() + timeout
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.rpush(self.inbox(node), encode_request(req_id, action, checked, reply_to, deadline))
            pipe.expire(self.inbox(node), REPLY_TTL_S)
            await pipe.execute()
        # in slices of at most WAIT_SLICE_S: a blocking read longer than the client's socket timeout fails
        while (left := deadline - self.clock()) > 0:
            got = await self.r.blpop([reply_to], timeout=max(0.05, min(WAIT_SLICE_S, left)))
            if got:
                return decode_reply(got[1])
        raise NodeUnavailable(node, action)

    async def serve_one(self, raw: str | bytes) -> None:
        try:
            req = decode_request(raw, self.reply_prefix)
        except BadAction as exc:
            log.warning("node action refused: %s", exc)
            return
        if self.clock() > req.deadline:          # the caller gave up already: do not act late
            log.warning("node action %s %s: past its deadline, not run", req.action, req.id)
            return
        handler = self.handlers.get(req.action)
        try:
            if handler is None:
                raise BadAction(f"no handler for {req.action} on node {self.node}")
            reply = encode_reply(await handler(req.payload))
        except Exception as exc:
            err = self.error_status(exc)
            if err is None:
                log.exception("node action %s failed", req.action)
                err = (500, "internal", "内部错误", {})
            reply = encode_reply(error=err)
        self.served += 1
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.rpush(req.reply_to, reply)
            pipe.expire(req.reply_to, REPLY_TTL_S)
            await pipe.execute()

    async def run(self) -> None:
        """Take this node's requests and answer them, one task each (a slow one does not hold the others)."""
        pending: set[asyncio.Task[None]] = set()
        while True:
            raise_if_cancelled()
            try:
                got = await self.r.blpop([self.inbox(self.node)], timeout=WAIT_SLICE_S)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise_if_cancelled(exc)
                await asyncio.sleep(1)
                continue
            if got:
                t = asyncio.create_task(self.serve_one(got[1]))
                pending.add(t)
                t.add_done_callback(pending.discard)
