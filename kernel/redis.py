"""The one Redis client factory: the controller, the web app and the CLI commands
get their clients here, with the same timeouts, retry and pool size."""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
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


def redis_client(url: str) -> aioredis.Redis:
    """A client with decoded strings. A dropped connection (Redis restarted) is retried on a
    fresh one, briefly; a longer outage surfaces as an error (calls take the fallback)."""
    return aioredis.from_url(
        url, decode_responses=True, health_check_interval=10, socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S, max_connections=MAX_CONNECTIONS,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError])
