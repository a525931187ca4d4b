"""The routing engine's Redis store: atomic actions (Lua) and plain reads.

Actions never check configuration (that is the service's job, see
``agents/service.py``); they apply a change atomically or raise the domain
error the script reported (``SeatBusy``, ``CallStateError``...). Scripts are
loaded once (``load_scripts``) and run with EVALSHA; after a Redis restart or
SCRIPT FLUSH the NOSCRIPT error makes the store load them again and retry.

Works with clients created with or without ``decode_responses``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, WatchError

from agents import lua
from agents.config import SeatsConfig
from agents.errors import from_code
from agents.model import Assignment, CallPhase, CallStatus, SeatState, SeatStatus, WaitingCall
from agents.policy import BAND_MS, MAX_PRIORITY, ReadySeat, Rules, to_ms, wait_score
from kernel.redis_text import hash_fields

DEFAULT_PREFIX = "hotline"
INBOX_TTL_S = 3600


def _s(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _f(v: Any, default: float | None = None) -> float | None:
    v = _s(v)
    return float(v) if v not in (None, "") else default


class Script:
    """A Lua script run by SHA; loaded again when the server does not know it (NOSCRIPT)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def load(self, r: aioredis.Redis) -> None:
        sha = _s(await r.script_load(self.source))
        if sha != self.sha:  # never expected: the server hashes the same bytes
            raise RuntimeError(f"script {self.name}: server sha {sha} != {self.sha}")

    async def __call__(self, r: aioredis.Redis, *args: Any) -> Any:
        try:
            return await r.evalsha(self.sha, 0, *args)
        except NoScriptError:
            await self.load(r)
            return await r.evalsha(self.sha, 0, *args)


class RoutingStore:
    """Seats, lanes and calls of one hotline (``prefix``) in Redis; shared by any number of controllers."""

    def __init__(self, redis: aioredis.Redis, config: SeatsConfig | None = None, *,
                 prefix: str = DEFAULT_PREFIX, clock: Callable[[], float] = time.time) -> None:
        self.r = redis
        self.config = config or SeatsConfig()
        self.prefix = prefix
        self.clock = clock
        self.tz = zoneinfo.ZoneInfo(self.config.timezone)
        self.scripts = {name: Script(name, src) for name, src in lua.SCRIPTS.items()}

    # ------------------------------------------------------------ plumbing

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def load_scripts(self) -> None:
        """Register every script with the server (once at start; NOSCRIPT reloads them later anyway)."""
        for s in self.scripts.values():
            await s.load(self.r)

    def day_hour(self, now: float) -> tuple[str, str]:
        local = dt.datetime.fromtimestamp(now, self.tz)
        return local.strftime("%Y%m%d"), local.strftime("%H")

    def _args(self, now: float, **extra: Any) -> str:
        day, hour = self.day_hour(now)
        c = self.config
        base = {"now": to_ms(now), "day": day, "hour": hour, "maxlen": c.events_maxlen,
                "seatlog_maxlen": c.seat_log_maxlen, "stats_ttl": c.stats_ttl_days * 86400,
                "sl_ms": c.service_level_s * 1000, "call_ttl": c.call_ttl_s, "samples": c.handle_samples,
                "inbox_ttl": INBOX_TTL_S}
        base.update({k: v for k, v in extra.items() if v is not None})
        return json.dumps(base, ensure_ascii=False, separators=(",", ":"))

    async def _run(self, name: str, ident: str | None, now: float | None, **extra: Any) -> dict[str, Any]:
        now = self.clock() if now is None else now
        args = [self.prefix, self._args(now, **extra)]
        if ident is not None:
            args.append(ident)
        out = json.loads(_s(await self.scripts[name](self.r, *args)))
        if isinstance(out, dict) and "error" in out:
            code = out.pop("error")
            what = " ".join(str(x) for x in (extra.get("op") or name, ident) if x)
            raise from_code(code, f"{what}: {code.replace('_', ' ')}", **out)
        return out

    # ------------------------------------------------------------ seat actions

    async def seat_op(self, op: str, seat_id: str, *, now: float | None = None, **args: Any) -> dict[str, Any]:
        """login | ready | pause | wrap_up | logout | force (see lua.SEAT)."""
        return await self._run("seat", seat_id, now, op=op, **args)

    async def login(self, seat_id: str, operator_id: str, skills: Mapping[str, int], *,
                    reason: str | None = None, now: float | None = None) -> dict[str, Any]:
        return await self.seat_op("login", seat_id, now=now, operator=operator_id,
                                  skills=json.dumps(dict(skills), separators=(",", ":")),
                                  to="paused" if reason else "ready", reason=reason)

    # ------------------------------------------------------------ call actions

    async def call_op(self, op: str, call_id: str, *, now: float | None = None, **args: Any) -> dict[str, Any]:
        """enqueue | cancel | callback | answered | ended | no_answer | callback_failed | drop | missed_done."""
        return await self._run("call", call_id, now, op=op, **args)

    async def enqueue(self, call: WaitingCall, *, now: float | None = None) -> int:
        p = call.effective_priority
        if abs(p) >= MAX_PRIORITY:
            raise ValueError(f"priority {p} out of range (|priority + boost| < {MAX_PRIORITY})")
        if not 0 <= to_ms(call.arrived_at) < BAND_MS:
            raise ValueError(f"arrival time {call.arrived_at} out of range")
        fields = {"lane": call.lane, "caller": call.caller or "", "arrival": str(to_ms(call.arrived_at)),
                  "priority": str(call.priority), "boost": str(call.boost),
                  "score": str(wait_score(p, call.arrived_at)), "callback": "1" if call.callback else "0",
                  "cb_number": call.callback_number or "", "node": call.node}
        out = await self.call_op("enqueue", call.call_id, now=now, fields=fields)
        return int(out["position"])

    async def match(self, rules: Rules, *, limit: int = 16, now: float | None = None) -> list[Assignment]:
        """Expire wrap-ups, re-admit due callbacks, then make up to ``limit`` assignments atomically."""
        now = self.clock() if now is None else now
        lanes = sorted(rules.lanes.values(), key=lambda ln: (-ln.priority, ln.id))
        spec = [{"id": ln.id, "prio": ln.priority, "ovf": ln.overflow.to if ln.overflow else "",
                 "after": to_ms(ln.overflow.after_s) if ln.overflow else 0} for ln in lanes]
        reserved = {sid: {"lane": r.lane, "lend": -1 if r.lend_after_s is None else to_ms(r.lend_after_s)}
                    for sid, r in rules.reserved.items()}
        raw = await self.scripts["match"](self.r, self.prefix,
                                          self._args(now, lanes=spec, reserved=reserved, limit=limit))
        return [Assignment.from_dict(d) for d in json.loads(_s(raw))]

    async def pop_assignment(self, node: str, timeout: float = 0.0) -> Assignment | None:
        """The next assignment for a controller's calls (``timeout`` 0: do not block)."""
        k = self.key("inbox", node)
        if timeout <= 0:
            raw = await self.r.lpop(k)
        else:
            got = await self.r.blpop([k], timeout=timeout)
            raw = got[1] if got else None
        return Assignment.from_dict(json.loads(_s(raw))) if raw else None

    # ------------------------------------------------------------ nodes (controllers sharing this Redis)

    async def beat(self, node: str, *, now: float | None = None) -> None:
        """This node is alive (see agents/nodes.py)."""
        await self.r.hset(self.key("nodes"), node, str(to_ms(self.clock() if now is None else now)))

    async def node_beats(self) -> dict[str, float]:
        """Each node's last beat (seconds)."""
        return {_s(k): int(_s(v)) / 1000 for k, v in (await self.r.hgetall(self.key("nodes"))).items()}

    async def forget_node(self, node: str) -> None:
        await self.r.hdel(self.key("nodes"), node)

    async def claim_seats(self, node: str, seat_ids: Iterable[str]) -> None:
        """These seats' phones are on ``node``'s Asterisk."""
        mapping = {sid: node for sid in seat_ids}
        if mapping:
            await self.r.hset(self.key("seat_node"), mapping=hash_fields(mapping))

    async def seat_nodes(self) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in (await self.r.hgetall(self.key("seat_node"))).items()}

    async def adopt_call(self, call_id: str, old: str, new: str) -> bool:
        """Move a call from (dead) node ``old`` to ``new``, unless someone changed its owner meanwhile."""
        k = self.key("call", call_id)
        async with self.r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(k)
                if _s(await pipe.hget(k, "node")) != old:
                    return False
                pipe.multi()
                pipe.hset(k, "node", new)
                await pipe.execute()
                return True
            except WatchError:
                return False

    # ------------------------------------------------------------ reads

    async def seat_hash(self, seat_id: str) -> dict[str, str]:
        h = await self.r.hgetall(self.key("seat", seat_id))
        return {_s(k): _s(v) for k, v in h.items()}

    @staticmethod
    def seat_status(seat_id: str, h: Mapping[str, str]) -> SeatStatus:
        state = SeatState(h.get("state") or "logged_out")
        return SeatStatus(
            seat_id=seat_id, state=state, operator_id=h.get("operator", ""),
            since=(_f(h.get("since"), 0.0) or 0.0) / 1000,
            idle_since=(float(h["idle"]) / 1000) if h.get("idle") and state == SeatState.READY else None,
            reason=h.get("reason", ""), call_id=h.get("call", ""), lane=h.get("lane", ""),
            wrap_until=(float(h["wrap_until"]) / 1000) if h.get("wrap_until") else None,
            skills=MappingProxyType({k: int(v) for k, v in json.loads(h.get("skills") or "{}").items()}))

    async def seat(self, seat_id: str) -> SeatStatus:
        return self.seat_status(seat_id, await self.seat_hash(seat_id))

    async def seats(self, seat_ids: Iterable[str] | None = None) -> list[SeatStatus]:
        ids = sorted(seat_ids) if seat_ids is not None else sorted(
            _s(x) for x in await self.r.smembers(self.key("seats")))
        async with self.r.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hgetall(self.key("seat", sid))
            rows = await pipe.execute()
        return [self.seat_status(sid, {_s(k): _s(v) for k, v in h.items()}) for sid, h in zip(ids, rows)]

    async def call(self, call_id: str) -> CallStatus | None:
        return self.call_status(call_id, await self.r.hgetall(self.key("call", call_id)))

    @staticmethod
    def call_status(call_id: str, raw: Mapping[Any, Any]) -> CallStatus | None:
        h = {_s(k): _s(v) for k, v in raw.items()}
        if not h:
            return None
        return CallStatus(
            call_id=call_id, lane=h.get("lane", ""), phase=CallPhase(h.get("state", "ended")),
            arrived_at=(_f(h.get("arrival"), 0.0) or 0.0) / 1000, priority=int(h.get("priority") or 0),
            boost=int(h.get("boost") or 0), callback=h.get("callback") == "1", seat_id=h.get("seat", ""),
            operator_id=h.get("operator", ""), node=h.get("node", ""), attempts=int(h.get("attempts") or 0), end_reason=h.get("end_reason", ""),
            caller=h.get("caller") or None, callback_number=h.get("cb_number") or None)

    async def active_calls(self) -> list[str]:
        return sorted(_s(x) for x in await self.r.smembers(self.key("calls")))

    async def position(self, call_id: str, lane: str) -> int | None:
        r = await self.r.zrank(self.key("wait", lane), call_id)
        return r + 1 if isinstance(r, int) else None

    async def waiting_ids(self, lane: str) -> list[str]:
        return [_s(x) for x in await self.r.zrange(self.key("wait", lane), 0, -1)]

    async def waiting_count(self, lane: str) -> int:
        return int(await self.r.zcard(self.key("wait", lane)))

    async def waiting_calls(self, lanes: Iterable[str]) -> list[WaitingCall]:
        out = []
        for lane in lanes:
            ids = await self.waiting_ids(lane)
            async with self.r.pipeline(transaction=False) as pipe:
                for cid in ids:
                    pipe.hgetall(self.key("call", cid))
                rows = await pipe.execute()
            for cid, raw in zip(ids, rows):
                st = self.call_status(cid, raw)
                if st is not None:
                    out.append(WaitingCall(call_id=cid, lane=st.lane, caller=st.caller, arrived_at=st.arrived_at,
                                           priority=st.priority, boost=st.boost, callback=st.callback,
                                           callback_number=st.callback_number, node=st.node))
        return out

    async def ready_seats(self) -> list[ReadySeat]:
        """Ready seats as the pure policy sees them (for checks and tests)."""
        return [ReadySeat(s.seat_id, s.skills, s.idle_since or 0.0, s.operator_id)
                for s in await self.seats() if s.state == SeatState.READY]

    async def handle_times(self, lane: str) -> list[float]:
        return [int(_s(x)) / 1000 for x in await self.r.lrange(self.key("handle", lane), 0, -1)]

    async def missed(self) -> list[dict[str, Any]]:
        rows = [json.loads(_s(v)) for v in (await self.r.hgetall(self.key("missed"))).values()]
        return sorted(rows, key=lambda d: (d["at"], d["call_id"]))

    async def operator_seat(self, operator_id: str) -> str | None:
        v = await self.r.get(self.key("operator", operator_id))
        return _s(v) if v else None

    # ------------------------------------------------------------ caller history (repeat callers)

    def _history_key(self, caller_key: str) -> str:
        digest = hashlib.sha256(f"{self.prefix}:{caller_key}".encode()).hexdigest()[:32]
        return self.key("history", digest)

    async def caller_history(self, caller_key: str, now: float, keep_days: int,
                             record: bool = True) -> list[float]:
        """Times of the caller's earlier calls within ``keep_days``; records this one (keyed by a hash)."""
        k = self._history_key(caller_key)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, "-inf", to_ms(now - keep_days * 86400) - 1)
            pipe.zrange(k, 0, -1, withscores=True)
            if record:
                pipe.zadd(k, {str(to_ms(now)): to_ms(now)})
                pipe.expire(k, keep_days * 86400 + 3600)
            res = await pipe.execute()
        return [score / 1000 for _, score in res[1]]

