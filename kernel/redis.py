"""The one Redis client factory: the controller, the web app and the CLI commands
get their clients here, with the same timeouts, retry and pool size.

A Redis location is one string, so that the settings, RUN/ready.json, `--redis-url` and the
web app pass it along unchanged:

    redis://[:PASSWORD@]HOST:PORT/DB                      one server
    redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB][?sentinel_password=P]

The second names Redis Sentinel (three sentinels in a deployment) and the master's name they
watch: the client asks a sentinel for the master's address before each new connection and
follows the master after a failover (redis-py's SentinelConnectionPool). PASSWORD is the data
servers' (master and replicas share it); sentinel_password the sentinels' own (requirepass on
the sentinels; absent: they take none). Hosts, ports and the master name are checked against a
whitelist (`parse_sentinel_url`).

After a failover the new master has an empty script cache: every Lua script is run by SHA with
a reload on NOSCRIPT (agents/store.Script; redis-py's register_script objects elsewhere), so the
scripts come back on the first call. The live-event subscribers (pub/sub) reconnect through the
same pool and subscribe again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# per client pool; Redis itself takes 10,000 clients. redis-py 8 caps a pool at 100 by default and
# each command in flight holds one; with 300 concurrent SIP calls on 2 loaded cores their commands
# piled up past 100 and failed with "Too many connections" (`hotline bench sip`). Beyond the cap a
# command still fails fast.
MAX_CONNECTIONS = 4096
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
SENTINEL_SCHEME = "redis+sentinel"

_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_MASTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RedisUrlError(ValueError):
    """A Redis location that is not one of the two forms above (the message says which part)."""


@dataclass(frozen=True)
class SentinelTarget:
    """Where a Sentinel-managed master is: the sentinels, the master's name, passwords, database."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    password: str = ""
    sentinel_password: str = ""
    db: int = 0

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        query = f"?sentinel_password={quote(self.sentinel_password, safe='')}" if self.sentinel_password else ""
        return f"{SENTINEL_SCHEME}://{auth}{hosts}/{self.master}/{self.db}{query}"


def parse_address(text: str) -> tuple[str, int]:
    """"host:port" (a DNS name or IPv4 address; no user text reaches a socket unchecked)."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep or not _HOST.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlError(f"expected host:port, got {text!r}")
    return host, int(port)


def sentinel_target(sentinels: list[str] | tuple[str, ...], master: str, *, password: str = "",
                    sentinel_password: str = "", db: int = 0) -> SentinelTarget:
    """The checked target: at least one sentinel, each host:port, and a plain master name."""
    if not sentinels:
        raise RedisUrlError("no sentinels given")
    if not _MASTER.match(master or ""):
        raise RedisUrlError(f"master name: expected letters, digits, '.', '_' or '-', got {master!r}")
    if not 0 <= db < 65536:
        raise RedisUrlError(f"database number out of range: {db}")
    return SentinelTarget(tuple(parse_address(s) for s in sentinels), master, password, sentinel_password, db)


def sentinel_url(sentinels: list[str] | tuple[str, ...], master: str, *, password: str = "",
                 sentinel_password: str = "", db: int = 0) -> str:
    return sentinel_target(sentinels, master, password=password, sentinel_password=sentinel_password, db=db).url


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The target of a redis+sentinel:// URL; None for any other scheme; RedisUrlError if malformed."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    password = unquote(userinfo.partition(":")[2]) if userinfo else ""
    path = [p for p in parts.path.split("/") if p]
    if not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError("expected /MASTER or /MASTER/DB after the sentinels")
    query = parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"sentinel_password"}:
        raise RedisUrlError(f"unknown URL options: {sorted(set(query) - {'sentinel_password'})}")
    return sentinel_target(hosts.split(",") if hosts else [], path[0], password=password,
                           sentinel_password=query.get("sentinel_password", [""])[0],
                           db=int(path[1]) if len(path) == 2 else 0)


def redact_url(url: str) -> str:
    """A Redis URL (either form) without its passwords, for logs and the READY line."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f":***@{hosts}" if at and userinfo.partition(":")[2] else hosts
    query = "sentinel_password=***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _options() -> dict[str, Any]:
    return dict(decode_responses=True, health_check_interval=10, socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S, max_connections=MAX_CONNECTIONS,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                retry_on_error=[RedisConnectionError, RedisTimeoutError])


class SentinelRedis(aioredis.Redis):
    """The master's client; closing it also closes its connections to the sentinels."""

    sentinels: Sentinel | None = None   # (not `sentinel`: that is the SENTINEL command)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            await self.sentinels.aclose()


def sentinel_client(target: SentinelTarget) -> SentinelRedis:
    """A client of the master that `target`'s sentinels name now, and after any failover."""
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs={
        "socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": SOCKET_TIMEOUT_S,
        "password": target.sentinel_password or None})
    client = sentinel.master_for(target.master, redis_class=SentinelRedis, password=target.password or None,
                                 db=target.db, **_options())
    assert isinstance(client, SentinelRedis)
    client.sentinels = sentinel
    return client


def redis_client(url: str) -> aioredis.Redis:
    """A client with decoded strings. A dropped connection (Redis restarted, or the master gone
    and another promoted by Sentinel) is retried on a fresh one, briefly; a longer outage
    surfaces as an error (calls take the fallback)."""
    target = parse_sentinel_url(url)
    if target is not None:
        return sentinel_client(target)
    return aioredis.from_url(url, **_options())
