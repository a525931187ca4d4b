"""Routing benchmark, Redis side: decision latency and assignments per second.

``run_bench`` puts ``callers`` calls in ``lanes`` lanes, then frees seats at a
steady ``free_rate`` (seats per second): each free is ``SeatService.ready``
followed by ``Router.match``; the decision latency is the time from the seat
being freed to the assignment being made (both round trips). The assigned
seat answers and hangs up at once and goes into a long wrap-up, so it is
"busy" until the bench frees it again. A second phase measures raw decision
throughput: all seats ready at once, one ``match`` assigns them while the
rest of the callers wait. Keys live under a private prefix, removed after.

The Asterisk ``Queue()`` baseline is added by the caller (``hotline bench routing``).
"""
from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections import deque
from types import MappingProxyType
from typing import Any

import redis.asyncio as aioredis

from agents.config import SeatsConfig
from agents.model import Operator, Seat, WaitingCall
from agents.service import Router, SeatService
from agents.store import RoutingStore
from ivr.model import Lane, Overflow
from kernel.redis import redis_client


def _pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 3)


def _summary(ms: list[float]) -> dict[str, Any]:
    return {"p50": _pct(ms, 50), "p99": _pct(ms, 99), "max": round(max(ms), 3) if ms else None,
            "mean": round(statistics.fmean(ms), 3) if ms else None, "n": len(ms)}


def bench_lanes(n: int) -> list[Lane]:
    """n lanes: the last is the general lane; the first has the highest priority; the others overflow to it."""
    lanes = []
    for i in range(n):
        last = i == n - 1
        lanes.append(Lane(f"lane{i}", f"lane {i}", priority=n - i,
                          overflow=None if last else Overflow(30, f"lane{n - 1}")))
    return lanes


def bench_config(n_seats: int, lanes: list[Lane], rng: random.Random) -> SeatsConfig:
    general = lanes[-1].id
    seats, ops = {}, {}
    for i in range(n_seats):
        sid = str(1001 + i)
        skills = {general: rng.randint(1, 10)}
        for j, ln in enumerate(lanes[:-1]):
            if rng.random() < 0.4 or i % len(lanes) == j:  # every lane has seats
                skills[ln.id] = rng.randint(1, 10)
        seats[sid] = Seat(sid, sid, sid)
        ops[f"op{sid}"] = Operator(f"op{sid}", sid, MappingProxyType(skills))
    return SeatsConfig(seats=MappingProxyType(seats), operators=MappingProxyType(ops), repeat_caller=None,
                       wrap_up_s=3600)


async def _clear(r: aioredis.Redis, prefix: str) -> None:
    async for batch in _scan_batches(r, f"{prefix}:*"):
        await r.unlink(*batch)


async def _scan_batches(r: aioredis.Redis, pattern: str, size: int = 500):
    batch = []
    async for k in r.scan_iter(match=pattern, count=size):
        batch.append(k)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _enqueue_all(router: Router, lanes: list[Lane], callers: int, rng: random.Random, tag: str) -> None:
    for i in range(callers):
        lane = lanes[-1] if rng.random() < 0.6 else rng.choice(lanes)
        await router.enqueue(WaitingCall(f"{tag}{i:05d}", lane.id, f"1380000{i % 10000:04d}",
                                         priority=rng.choice([0, 0, 0, 1])))


async def run_bench(redis_url: str, callers: int = 1000, lanes: int = 3, seats: int = 50,
                    free_rate: float = 200.0, seed: int = 1) -> dict[str, Any]:
    """Run both phases; returns JSON-able figures (milliseconds, per second)."""
    rng = random.Random(seed)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    r = redis_client(redis_url)
    lane_list = bench_lanes(lanes)
    cfg = bench_config(seats, lane_list, rng)
    store = RoutingStore(r, cfg, prefix=prefix)
    router = Router(store, lane_list)
    svc = SeatService(store)
    try:
        await store.load_scripts()
        for sid in cfg.seats:
            await svc.login(sid, f"op{sid}", pause_reason="小休")
        await _enqueue_all(router, lane_list, callers, rng, "s")

        # phase 1: seats free at a steady rate; latency from free to assignment
        busy = deque(cfg.seats)
        latencies, match_ms = [], []
        made, idle_frees = 0, 0
        t0 = time.perf_counter()
        k = 0
        while made < callers and busy:
            due = t0 + k / free_rate
            k += 1
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sid = busy.popleft()
            t_free = time.perf_counter()
            await svc.ready(sid)
            t_match = time.perf_counter()
            got = await router.match()
            t_done = time.perf_counter()
            match_ms.append((t_done - t_match) * 1000)
            if not got:
                idle_frees += 1   # nobody waiting that this seat can take; it stays ready
                continue
            latencies.append((t_done - t_free) * 1000)
            for a in got:
                made += 1
                await router.answered(a.call_id, a.seat_id)
                await router.ended(a.call_id)          # long wrap-up: busy until freed again
                busy.append(a.seat_id)
        steady_s = time.perf_counter() - t0

        # phase 2: raw throughput with `callers` waiting: all seats ready, one match assigns them
        for sid in cfg.seats:
            st = await store.seat(sid)
            if st.state.value == "ready":
                await svc.pause(sid, "小休")
        await _enqueue_all(router, lane_list, callers, rng, "b")
        burst_made, burst_s, rounds = 0, 0.0, 0
        while burst_made < callers and rounds < 10 * callers:
            rounds += 1
            for sid in cfg.seats:
                await svc.ready(sid)
            t = time.perf_counter()
            got = await router.match()
            burst_s += time.perf_counter() - t
            if not got:
                break
            burst_made += len(got)
            for a in got:
                await router.answered(a.call_id, a.seat_id)
                await router.ended(a.call_id)
        info = await r.info("server")
        return {
            "callers": callers, "lanes": lanes, "seats": seats, "free_rate_per_s": free_rate,
            "decision_latency_ms": _summary(latencies),
            "match_ms": _summary(match_ms),
            "assignments": made, "idle_frees": idle_frees,
            "steady_elapsed_s": round(steady_s, 3),
            "assignments_per_s": round(made / steady_s, 1) if steady_s else None,
            "burst": {"assignments": burst_made, "match_time_s": round(burst_s, 4), "rounds": rounds,
                      "assignments_per_s": round(burst_made / burst_s, 1) if burst_s else None},
            "redis_version": info.get("redis_version"),
        }
    finally:
        await _clear(r, prefix)
        await r.aclose()
