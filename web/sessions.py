"""Server-side sessions in Redis, with an idle and an absolute expiry.

The browser holds only a random token (in an HttpOnly, SameSite=Strict
cookie); Redis holds the session under the token's SHA-256, so a copy of the
database does not hand out live sessions. Expiry is decided here with the
injected clock (testable); Redis key TTLs only collect the leftovers.

Layout: web:session:<digest> (hash: user_id, csrf, created_at, last_seen, ip),
web:user_sessions:<user id> (set of digests, to log a user out everywhere).

Every ended session (logout, expiry seen, revocation) and every change to an
account (role, disabled, operator id) is published on the channel
`web:sessions:ended` as JSON {"sessions": [digest...], "user": id, "reason": ...}:
every node's live WebSocket hub (web/live.py) closes the pages it concerns.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from web.auth import new_token, token_digest

PREFIX = "web"
TOUCH_EVERY_S = 10.0   # last_seen is rewritten at most this often
TTL_MARGIN_S = 60
ENDED_CHANNEL = f"{PREFIX}:sessions:ended"


async def announce_ended(redis: aioredis.Redis, *, user_id: str = "", sessions: Iterable[str] = (),
                         reason: str = "ended") -> None:
    """Tell every node that these sessions (or every session of this user) changed or ended."""
    await redis.publish(ENDED_CHANNEL, json.dumps({"sessions": list(sessions), "user": user_id, "reason": reason}))


def _key(digest: str) -> str:
    return f"{PREFIX}:session:{digest}"


def _user_key(user_id: str) -> str:
    return f"{PREFIX}:user_sessions:{user_id}"


@dataclass(frozen=True)
class Session:
    token: str          # the cookie value; never stored
    user_id: str
    csrf: str           # the CSRF token the page sends back in a header
    created_at: float
    last_seen: float
    ip: str
    idle_s: float
    absolute_s: float

    @property
    def expires_at(self) -> float:
        """The earlier of the idle and the absolute deadline."""
        return min(self.last_seen + self.idle_s, self.created_at + self.absolute_s)


class SessionStore:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float],
                 idle_s: float, absolute_s: float) -> None:
        # decode_responses=True: every answer is str, which redis-py's types cannot tell
        self.redis: Any = redis
        self.clock = clock
        self.idle_s = idle_s
        self.absolute_s = absolute_s

    def _ttl(self, created: float, seen: float) -> int:
        left = min(self.idle_s, created + self.absolute_s - seen)
        return max(1, math.ceil(left)) + TTL_MARGIN_S

    async def create(self, user_id: str, ip: str) -> Session:
        now = self.clock()
        session = Session(token=new_token(), user_id=user_id, csrf=new_token(), created_at=now,
                          last_seen=now, ip=ip, idle_s=self.idle_s, absolute_s=self.absolute_s)
        digest = token_digest(session.token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(digest), mapping={"user_id": user_id, "csrf": session.csrf,
                                             "created_at": repr(now), "last_seen": repr(now), "ip": ip})
            pipe.expire(_key(digest), self._ttl(now, now))
            pipe.sadd(_user_key(user_id), digest)
            pipe.expire(_user_key(user_id), math.ceil(self.absolute_s) + TTL_MARGIN_S)
            await pipe.execute()
        return session

    async def load(self, token: str | None) -> Session | None:
        """The live session for a cookie value, touched; None when absent or expired."""
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        h = await self.redis.hgetall(_key(digest))
        if not h:
            return None
        session = Session(token=token, user_id=h["user_id"], csrf=h["csrf"],
                          created_at=float(h["created_at"]), last_seen=float(h["last_seen"]),
                          ip=h.get("ip", ""), idle_s=self.idle_s, absolute_s=self.absolute_s)
        now = self.clock()
        if now >= session.expires_at:
            await self._delete(digest, session.user_id)
            return None
        if now - session.last_seen >= TOUCH_EVERY_S:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(_key(digest), "last_seen", repr(now))
                pipe.expire(_key(digest), self._ttl(session.created_at, now))
                await pipe.execute()
            session = Session(**{**session.__dict__, "last_seen": now})
        return session

    async def destroy(self, session: Session) -> None:
        await self._delete(token_digest(session.token), session.user_id, "logout")

    async def alive(self, digest: str, user_id: str) -> bool:
        """Whether the session with this digest still stands (not touched: a WebSocket is no activity)."""
        h = await self.redis.hmget(_key(digest), "user_id", "created_at", "last_seen")
        if h[0] is None or h[0] != user_id:
            return False
        created, seen = float(h[1] or 0), float(h[2] or 0)
        return self.clock() < min(seen + self.idle_s, created + self.absolute_s)

    async def revoke_user(self, user_id: str, keep: Session | None = None) -> int:
        """End every session of a user (but `keep`); the number ended."""
        digests = await self.redis.smembers(_user_key(user_id))
        kept = token_digest(keep.token) if keep else None
        gone = [d for d in digests if d != kept]
        if gone:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(_key(d) for d in gone))
                pipe.srem(_user_key(user_id), *gone)
                await pipe.execute()
            await announce_ended(self.redis, sessions=gone, reason="revoked")
        return len(gone)

    async def _delete(self, digest: str, user_id: str, reason: str = "expired") -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_key(digest))
            pipe.srem(_user_key(user_id), digest)
            await pipe.execute()
        await announce_ended(self.redis, sessions=[digest], reason=reason)
