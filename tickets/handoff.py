"""Hand-off of confirmed tickets to the city's work-order system: the delivery worker.

    worker = HandoffWorker(redis, load_handoff_config(), consumer="ctl-1")
    task = asyncio.create_task(worker.run())       # runs until cancelled

Each delivery is one POST of the ticket's stored work order (JSON) with
`Idempotency-Key: <ticket id>`: at-least-once delivery plus the key gives an
exactly-once effect on a receiver that dedupes. 2xx -> handed_off; 408, 429,
5xx, timeouts and connection errors -> retried after an exponential back-off
with jitter (Retry-After honoured, capped); any other status, or the last
allowed attempt failing -> dead letter with the reason; `redrive()` queues
dead letters again. Several workers (controllers) may run at once on one
Redis: the outbox's consumer group gives each entry to one of them, and an
entry left by a worker that died is reclaimed after the visibility timeout.
At start the worker first finishes what it had claimed under the same
consumer name before a restart. With no URL configured the worker does not
start and tickets stay confirmed and queued.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kernel.loops import raise_if_cancelled
from kernel.privacy import mask_text
from kernel.redis_text import text as reply_text
from tickets.handoff_config import HandoffConfig, HandoffConfigError
from tickets.keys import TicketKeys
from tickets.outbox import DeadLetter, Delivery, Outbox

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429})
EXCERPT_CHARS = 200
CONSUMER_IDLE_PRUNE_MS = 7 * 86400 * 1000


@dataclass(frozen=True)
class AttemptResult:
    outcome: str                    # "done", "retry" or "dead"
    detail: str                     # "HTTP 201", "HTTP 503: busy", "timeout after 10s" ...
    retry_after: float | None = None


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1) capped at max, jittered to [½d, d]."""
    delay = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return rng.uniform(delay / 2, delay)


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now) if when is not None else None


def classify(status: int, body: str, retry_after: float | None = None) -> AttemptResult:
    excerpt = mask_text(re.sub(r"\s+", " ", body or "").strip()[:EXCERPT_CHARS])
    detail = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if 200 <= status < 300:
        return AttemptResult("done", f"HTTP {status}")
    if status in RETRY_STATUSES or status >= 500:
        return AttemptResult("retry", detail, retry_after)
    return AttemptResult("dead", detail)


async def post_once(session: aiohttp.ClientSession, config: HandoffConfig, ticket_id: str,
                    body: bytes, attempt: int, now: float) -> AttemptResult:
    """One POST of a work order; transport failures become retryable results, never exceptions."""
    headers = {**config.headers, "Content-Type": "application/json; charset=utf-8",
               "Idempotency-Key": ticket_id, "X-Hotline-Attempt": str(attempt)}
    authorization = config.authorization()
    if authorization:
        headers["Authorization"] = authorization
    timeout = aiohttp.ClientTimeout(total=config.total_timeout_s, connect=config.connect_timeout_s)
    try:
        async with session.post(config.url, data=body, headers=headers, timeout=timeout,
                                allow_redirects=False) as response:
            text = (await response.content.read(4096)).decode("utf-8", errors="replace")
            return classify(response.status, text, retry_after_s(response.headers.get("Retry-After"), now))
    except TimeoutError:
        return AttemptResult("retry", f"timeout after {config.total_timeout_s:g}s")
    except aiohttp.ClientConnectorError as exc:
        return AttemptResult("retry", f"cannot connect: {exc.os_error or exc}")
    except aiohttp.ClientError as exc:
        return AttemptResult("retry", f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class HandoffWorker:
    """Delivers queued tickets until cancelled. Give each running controller its own stable `consumer`."""

    def __init__(self, redis: aioredis.Redis, config: HandoffConfig, *, keys: TicketKeys = TicketKeys(),
                 consumer: str | None = None, session: aiohttp.ClientSession | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                 on_finished: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        if config.enabled and config.problems():
            raise HandoffConfigError("handoff config", config.problems())
        self.r = redis
        self.config = config
        self.keys = keys
        self.outbox = Outbox(redis, keys)
        self.consumer = consumer or default_consumer()
        self._session = session
        self._rng = rng or random.Random()
        self.clock = clock
        # after a delivery's outcome is stored: (ticket id, outcome); e.g. TicketStore.record for the
        # system of record. Errors are logged, never retried as a delivery.
        self.on_finished = on_finished

    async def run(self) -> None:
        """Deliver until cancelled. Redis outages are waited out; other errors propagate."""
        if not self.config.enabled:
            log.info("ticket hand-off disabled (no url): confirmed tickets stay queued")
            return
        session = self._session or aiohttp.ClientSession()
        started = False
        try:
            while True:
                raise_if_cancelled()
                try:
                    if not started:
                        await self._start(session)
                        started = True
                    await self._pass(session, block_ms=int(self.config.poll_s * 1000))
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    log.warning("ticket hand-off: Redis unavailable (%s); retrying in %gs", exc, self.config.poll_s)
                    started = False         # then resume this worker's own claims at once
                    await asyncio.sleep(self.config.poll_s)
        finally:
            if self._session is None:
                await session.close()

    async def _start(self, session: aiohttp.ClientSession) -> None:
        await self.outbox.ensure_group()
        gone = await self.outbox.prune_consumers(CONSUMER_IDLE_PRUNE_MS)
        if gone:
            log.info("ticket hand-off: forgot %d idle consumer(s)", len(gone))
        while True:         # what this consumer claimed before a restart
            raise_if_cancelled()
            mine = await self.outbox.own_pending(self.consumer, self.config.batch)
            if not mine:
                break
            log.info("ticket hand-off: resuming %d delivery(ies) claimed before a restart", len(mine))
            await self._deliver_all(session, mine)

    async def _pass(self, session: aiohttp.ClientSession, block_ms: int | None) -> int:
        """One round: due retries back to the stream, stale claims taken over, then new entries."""
        await self.outbox.promote_due(self.clock())
        batch = await self.outbox.reclaim(self.consumer, int(self.config.visibility_timeout_s * 1000),
                                          self.config.batch)
        if batch:
            log.info("ticket hand-off: took over %d delivery(ies) left unfinished past the visibility timeout",
                     len(batch))
        else:
            batch = await self.outbox.read_new(self.consumer, self.config.batch, block_ms)
        await self._deliver_all(session, batch)
        return len(batch)

    async def _deliver_all(self, session: aiohttp.ClientSession, batch: list[Delivery]) -> None:
        """Deliver a batch, `concurrency` at a time; a failure is raised once every delivery has ended.

        Not a TaskGroup: on Python 3.11 a TaskGroup whose child fails while the
        parent is being cancelled can lose that cancellation.
        """
        if not batch:
            return
        limit = asyncio.Semaphore(self.config.concurrency)

        async def one(delivery: Delivery) -> None:
            async with limit:
                await self._deliver(session, delivery)

        tasks = [asyncio.create_task(one(d), name=f"handoff {d.ticket_id}") for d in batch]
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            raise
        errors = [e for t in tasks if not t.cancelled() and (e := t.exception()) is not None]
        for extra in errors[1:]:
            log.error("ticket hand-off: another delivery failed too", exc_info=extra)
        if errors:
            raise errors[0]

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        if delivery.ticket_id is None:
            await self.outbox.finish(delivery, "drop", self.clock())
            return
        tid = delivery.ticket_id
        status, body, attempts = await self.r.hmget(self.keys.ticket(tid), "status", "work_order", "attempts")
        if status != "confirmed":           # handed off already (a duplicate entry), or gone
            await self.outbox.finish(delivery, "drop", self.clock())
            return
        if not body:
            await self.outbox.finish(delivery, "dead", self.clock(), "no work order stored with the ticket")
            return
        attempt = int(attempts or 0) + 1
        result = await post_once(session, self.config, tid, reply_text(body).encode("utf-8"), attempt, self.clock())
        now = self.clock()
        outcome, detail, due, delay = result.outcome, result.detail, None, 0.0
        if outcome == "retry" and attempt >= self.config.attempts:
            outcome, detail = "dead", f"gave up after {attempt} attempts: {detail}"
        elif outcome == "retry":
            delay = backoff_delay(attempt, self.config.backoff_base_s, self.config.backoff_max_s, self._rng)
            if result.retry_after is not None:
                delay = max(delay, min(result.retry_after, self.config.backoff_max_s))
            due = now + delay
        if not await self.outbox.finish(delivery, outcome, now, detail, due):
            log.info("ticket %s: delivery finished by another worker; result %s ignored", tid, detail)
            return
        if self.on_finished is not None:
            try:
                await self.on_finished(tid, outcome)
            except Exception:
                log.exception("ticket %s: after the hand-off outcome %s", tid, outcome)
        if outcome == "done":
            log.info("ticket %s handed off (%s, attempt %d)", tid, detail, attempt)
        elif outcome == "retry":
            log.warning("ticket %s: hand-off attempt %d failed (%s); next in %.1fs", tid, attempt, detail, delay)
        else:
            log.error("ticket %s dead-lettered: %s", tid, detail)

    async def redrive(self, ticket_id: str | None = None) -> list[str]:
        """Queue a dead-lettered ticket (or all of them) for delivery again; the ids re-driven."""
        done = await self.outbox.redrive(self.clock(), ticket_id)
        if done:
            log.info("ticket hand-off: re-driven %d dead letter(s)", len(done))
        return done

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self.outbox.dead_letters(limit)
