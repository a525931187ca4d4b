"""Login rate limiting: failures per username and per client address in Redis.

Each failed login counts against the username and the address. When a count
reaches its limit within the window, that username (or address) is locked
out; each further lockout within a day doubles the time (base, 2*base, 4*base
... up to a cap). A successful login clears the username's counters. Lock
deadlines are compared with the injected clock, so tests can jump in time;
the Redis TTLs only clean up.

Layout: web:login:fail:<kind>:<value> (hash: first, count),
web:login:lock:<kind>:<value> (deadline), web:login:lockouts:<kind>:<value>.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

PREFIX = "web:login"

_FAIL = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
if (not first) or now - first > window then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'first', ARGV[1])
end
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('EXPIRE', KEYS[1], math.ceil(window))
if n < tonumber(ARGV[3]) then return '0' end
local k = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 86400)
local dur = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (k - 1))
redis.call('SET', KEYS[2], tostring(now + dur), 'EX', math.ceil(dur) + 60)
redis.call('DEL', KEYS[1])
return tostring(dur)
"""


@dataclass(frozen=True)
class Limits:
    window_s: float = 900.0
    user_max: int = 5
    ip_max: int = 50
    base_s: float = 60.0
    max_s: float = 3600.0


def _keys(kind: str, value: str) -> list[str]:
    return [f"{PREFIX}:{part}:{kind}:{value}" for part in ("fail", "lock", "lockouts")]


def _user(username: str) -> str:
    return str(username).strip().lower()[:64]


class LoginLimiter:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float], limits: Limits) -> None:
        self.redis = redis
        self.clock = clock
        self.limits = limits
        self._fail = redis.register_script(_FAIL)

    async def retry_after(self, username: str, ip: str) -> float:
        """Seconds until this username and address may try again (0: now)."""
        user_lock, ip_lock = await self.redis.mget(_keys("user", _user(username))[1], _keys("ip", ip)[1])
        now = self.clock()
        return max([float(v) - now for v in (user_lock, ip_lock) if v is not None] + [0.0])

    async def failed(self, username: str, ip: str) -> float:
        """Count a failure; the lockout (seconds) it started, 0 when none."""
        lim = self.limits
        now = repr(self.clock())
        user = await self._fail(keys=_keys("user", _user(username)),
                                args=[now, lim.window_s, lim.user_max, lim.base_s, lim.max_s])
        addr = await self._fail(keys=_keys("ip", ip), args=[now, lim.window_s, lim.ip_max, lim.base_s, lim.max_s])
        return max(float(user), float(addr))

    async def succeeded(self, username: str) -> None:
        fail, _lock, lockouts = _keys("user", _user(username))
        await self.redis.delete(fail, lockouts)
