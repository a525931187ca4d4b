"""Login rate limiting: failures per username and per client address in Redis,
with device tokens so that an attacker cannot lock the right user out.

Each failed login counts against the username and the address. When a count
reaches its limit within the window, that username (or address) backs off:
further attempts are refused without looking at the password, for a time that
doubles with each back-off within a day (base, 2*base, 4*base ... up to a cap).

A browser that has logged in as a user before holds a device token for that
user (an HttpOnly cookie; Redis keeps its SHA-256). Attempts made with a valid
device token for the username count only against that device, and neither the
username's nor the address's back-off applies to them. So guessing from
anywhere else slows down, while the operator at their own browser, and
everyone else behind the same NAT address, still logs in with the right
password (OWASP "device cookies"). A successful login clears the username's
counters and hands out (or renews) the device token.

Lock deadlines are compared with the injected clock, so tests can jump in time;
the Redis TTLs only clean up.

Layout: web:login:fail:<kind>:<value> (hash: first, count),
web:login:lock:<kind>:<value> (deadline), web:login:lockouts:<kind>:<value>,
kind user | ip | device; web:login:device:<sha256 of the token> = username.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from kernel.resources import package_text
from web.auth import new_token, token_digest

PREFIX = "web:login"
DEVICE_TTL_S = 90 * 86400

_FAIL = package_text("web", "lua/ratelimit_fail.lua")


@dataclass(frozen=True)
class Limits:
    window_s: float = 900.0
    user_max: int = 5
    ip_max: int = 50
    base_s: float = 60.0
    max_s: float = 3600.0
    device_max: int = 5           # failures with one device token before that device backs off


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

    # ------------------------------------------------------------ device tokens
    async def device(self, token: str | None, username: str) -> str | None:
        """The digest of a valid device token for this username; None for none, unknown or another user's."""
        if not token or len(token) > 128:
            return None
        digest = token_digest(token)
        owner = await self.redis.get(f"{PREFIX}:device:{digest}")
        return digest if owner is not None and owner == _user(username) else None

    async def new_device(self, username: str) -> str:
        """A fresh device token (the cookie value) for this username."""
        token = new_token()
        await self.redis.set(f"{PREFIX}:device:{token_digest(token)}", _user(username), ex=DEVICE_TTL_S)
        return token

    async def renew_device(self, digest: str) -> None:
        await self.redis.expire(f"{PREFIX}:device:{digest}", DEVICE_TTL_S)

    # ------------------------------------------------------------ counting
    def _sources(self, username: str, ip: str, device: str | None) -> list[tuple[str, str, int]]:
        """(kind, value, limit) that an attempt counts against."""
        if device is not None:
            return [("device", device, self.limits.device_max)]
        return [("user", _user(username), self.limits.user_max), ("ip", ip, self.limits.ip_max)]

    async def retry_after(self, username: str, ip: str, device: str | None = None) -> float:
        """Seconds until this username and address (or this device) may try again (0: now)."""
        locks = await self.redis.mget(*[_keys(kind, value)[1] for kind, value, _ in
                                        self._sources(username, ip, device)])
        now = self.clock()
        return max([float(v) - now for v in locks if v is not None] + [0.0])

    async def failed(self, username: str, ip: str, device: str | None = None) -> float:
        """Count a failure; the back-off (seconds) it started, 0 when none."""
        lim = self.limits
        now = repr(self.clock())
        started = 0.0
        for kind, value, limit in self._sources(username, ip, device):
            got = await self._fail(keys=_keys(kind, value), args=[now, lim.window_s, limit, lim.base_s, lim.max_s])
            started = max(started, float(got))
        return started

    async def succeeded(self, username: str, device: str | None = None) -> None:
        fail, _lock, lockouts = _keys("user", _user(username))
        keys = [fail, lockouts]
        if device is not None:
            keys += [_keys("device", device)[0], _keys("device", device)[2]]
        await self.redis.delete(*keys)
