"""Routing with more than one controller and through faults, each hotline a
real `hotline up` process (its own Asterisk and FastAGI server) on a Redis
the test owns:

- two controllers (two Asterisk nodes) on one Redis, 200 calls, 10 demo seats:
  every call answered once and no seat rung for two calls at once, judged
  from both Asterisks' AMI events (not from our Redis);
- Redis restarted with 20 callers waiting: none dropped; calls arriving while
  Redis is down take the dialplan's fallback queue.

Seats wrap up in 0 s and demo seats talk ~1 s so the load stays short; the
tree sends each call straight into the general lane.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bench.routing import _bench_files
from devstack.procs import RedisServer
from devstack.simcall import place_call
from pbx.ami import AMIClient, AMIEvent
from tests.e2e.test_routing_calls import VENV_BIN, _stop_group, later, new_number, until

pytestmark = pytest.mark.asterisk

SEATS = [f"{1001 + i}" for i in range(10)]
# Demo seats (inherited by the seat's Local channel): say 1 s of silence instead of their
# reply where the demo context knows DEMO_SAY, then hang up.
SHORT = {"__DEMO_TALK_S": "0", "__DEMO_SAY": "silence/1"}


class Hotline:
    """One `hotline up --demo-seats N` process on a shared Redis, and an AMI client to its Asterisk."""

    def __init__(self, tmp: Path, name: str, redis_url: str, seats_file: Path, tree_file: Path, demo: int,
                 node: str | None = None) -> None:
        self.dir = tmp / name
        self.dir.mkdir()
        self.env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(self.dir / "run"),
                        HOTLINE__STORAGE__DATA_DIR=str(self.dir / "data"), HOTLINE__REDIS__URL=redis_url,
                        HOTLINE__AGENTS__SEATS=str(seats_file), HOTLINE__IVR__TREE=str(tree_file),
                        HOTLINE__FALLBACK__QUEUE_TIMEOUT_S="120", HOTLINE__STT__MODEL="",
                        HOTLINE__LOG__LEVEL="WARNING")
        if node:                                  # routing.node (default: one per data folder)
            self.env["HOTLINE__ROUTING__NODE"] = node
        self.demo = demo
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.ami: AMIClient | None = None
        self.events: list[AMIEvent] = []
        self.restarted_asterisk: subprocess.Popen | None = None

    def _start(self) -> None:
        err = open(self.dir / "controller.log", "wb")
        self.proc = subprocess.Popen([str(VENV_BIN / "hotline"), "up", "--demo-seats", str(self.demo)],
                                     stdout=subprocess.PIPE, stderr=err, text=True, env=self.env)
        err.close()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("READY "):
                info = json.loads(line[len("READY "):])
                info.update(json.loads((Path(info["run"]) / "ready.json").read_text()))
                self.info = info
                return
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"no READY line: {(self.dir / 'controller.log').read_text()[-3000:]}")

    async def start(self) -> Hotline:
        await asyncio.to_thread(self._start)
        # call, user and agent events only: the AGI command events of a hundred waiting calls would flood the test
        self.ami = AMIClient("127.0.0.1", self.info["ports"]["ami"], self.info["ami_user"], self.info["ami_secret"],
                             events="call,user,agent")
        await self.ami.connect()
        self.ami.on_event("*", self._keep)
        return self

    def _keep(self, e: AMIEvent) -> None:
        if e.name in ("DialBegin", "DialEnd", "Hangup", "UserEvent", "AgentConnect"):
            self.events.append(e)

    async def stop(self) -> None:
        if self.ami is not None:
            await self.ami.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.proc.wait, 40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        await asyncio.to_thread(_stop_group, (self.info.get("pids") or {}).get("asterisk"))
        if self.restarted_asterisk is not None:
            await asyncio.to_thread(_stop_group, self.restarted_asterisk.pid)
            self.restarted_asterisk.wait(5)

    async def call(self, **kw):
        kw.setdefault("caller", new_number())
        kw.setdefault("variables", SHORT)
        return await place_call(self.ami, did="12345", **kw)


def _ts(e: AMIEvent) -> float:
    return float(e.get("Timestamp") or 0.0)


def seat_rings(hotlines: list[Hotline]) -> dict[str, list[tuple[float, float, str]]]:
    """Per seat: (dialled at, seat leg hung up at, call) from every Asterisk's DialBegin/Hangup."""
    out: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for h in hotlines:
        ends = {e.get("Channel"): _ts(e) for e in h.events if e.name == "Hangup"}
        for e in h.events:
            dest = e.get("DestChannel", "")
            if e.name == "DialBegin" and dest.startswith("Local/") and "@hotline-demo-seat-" in dest:
                seat = dest.split("/")[1].split("@")[0]
                out[seat].append((_ts(e), ends.get(dest, float("inf")), e.get("Uniqueid")))
    return out


@pytest.fixture
async def shared_redis(tmp_path):
    server = RedisServer(tmp_path / "redis-run", data_dir=tmp_path / "redis-data")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_two_controllers_on_one_redis_never_ring_a_seat_twice(tmp_path, shared_redis):
    seats_file, tree_file = _bench_files(tmp_path)
    hotlines: list[Hotline] = []
    try:
        for name in ("a", "b"):                                  # one after the other (demo-seat log in, resync)
            hotlines.append(await Hotline(tmp_path, name, shared_redis.url, seats_file, tree_file, 10).start())
        n = 200
        t0 = time.monotonic()
        results = await asyncio.gather(*(later(0.2 * i, hotlines[i % 2].call(hold=200, timeout=220))
                                         for i in range(n)))
        wall = time.monotonic() - t0
    finally:
        for h in hotlines:
            await h.stop()

    assert all(r.completed for r in results), [r.sim_id for r in results if not r.completed]
    assert not any(r.fallback for r in results)
    answered: dict[str, int] = defaultdict(int)
    for h in hotlines:
        for e in h.events:
            if e.name == "DialEnd" and e.get("DialStatus") == "ANSWER" \
                    and "@hotline-demo-seat-" in e.get("DestChannel", ""):
                answered[e.get("Uniqueid")] += 1
    assert sorted(answered) == sorted(r.ivr_uniqueid for r in results)   # every call answered...
    assert set(answered.values()) == {1}                                 # ...once
    rings = seat_rings(hotlines)
    assert set(rings) == set(SEATS)
    both = set()
    for seat, spans in rings.items():
        spans.sort()
        for (_, e1, c1), (s2, _, c2) in zip(spans, spans[1:]):
            assert s2 >= e1, f"seat {seat} rang for {c2} at {s2} while still on {c1} until {e1}"
        both |= {("a" if c in {r.ivr_uniqueid for r in results[0::2]} else "b") for _, _, c in spans}
    assert both == {"a", "b"}                                  # seats served both controllers' calls
    print(f"two controllers: {n} calls, 10 seats, {wall:.1f} s")


async def test_redis_restarted_with_callers_waiting(tmp_path, shared_redis):
    import redis.asyncio as aioredis

    from agents.config import load_seats
    from agents.service import SeatService
    from agents.store import RoutingStore

    seats_file, tree_file = _bench_files(tmp_path)
    h = await Hotline(tmp_path, "a", shared_redis.url, seats_file, tree_file, 4).start()
    redis = aioredis.from_url(shared_redis.url, decode_responses=True)
    calls: list[asyncio.Future] = []
    try:
        store = RoutingStore(redis, load_seats(seats_file, lanes=("deputy", "enterprise", "general")))
        await store.load_scripts()
        seats = SeatService(store)
        for sid in SEATS[:4]:                                  # nobody answers yet: the callers wait in Redis
            await seats.pause(sid, "小休")
        calls = [later(0.2 * i, h.call(hold=150, timeout=170)) for i in range(20)]

        async def all_waiting():
            states = [await store.call(c) for c in await _call_ids(redis)]
            return sum(1 for st in states if st is not None and st.phase.value == "waiting") == 20
        await until(all_waiting, 40, "20 callers waiting", every=0.3)

        await asyncio.to_thread(shared_redis.stop)             # Redis goes away...
        down = [later(0.3 * i, h.call(hold=150, timeout=170)) for i in range(3)]
        await asyncio.sleep(4)                                 # ...calls arrive meanwhile...
        await asyncio.to_thread(shared_redis.start)            # ...and it comes back with its data
        await until(lambda: _ping(redis), 10, "redis back")
        for sid in SEATS[:4]:
            await seats.ready(sid)
        results = await asyncio.gather(*calls)
        fell_back = await asyncio.gather(*down)
    finally:
        for c in calls:
            c.cancel()
        await h.stop()
        await redis.aclose()

    for r in results:
        assert r.completed, r.sim_id
        assert not r.fallback, r.sim_id                        # waited through the outage in their place
        dials = [e for e in h.events if e.name == "DialEnd" and e.get("Uniqueid") == r.ivr_uniqueid]
        assert [e.get("DialStatus") for e in dials] == ["ANSWER"], r.sim_id
    for r in fell_back:
        assert r.completed and r.fallback, r.sim_id            # the dialplan's fallback queue took them
        connects = [e for e in h.events if e.name == "AgentConnect" and e.get("Uniqueid") == r.ivr_uniqueid]
        assert len(connects) == 1 and connects[0].get("Queue") == "hotline-fallback", r.sim_id
    assert not [e for e in h.events if e.name == "UserEvent" and e.get("UserEvent") == "HotlineMissed"]


async def _ping(redis) -> bool:
    with contextlib.suppress(Exception):
        return bool(await redis.ping())
    return False


async def _call_ids(redis) -> list[str]:
    from agents.events import all_events

    return [e["call_id"] for _, e in await all_events(redis) if e["type"] == "call_queued"]


async def _seat_service(redis, seats_file: Path):
    from agents.config import load_seats
    from agents.service import SeatService
    from agents.store import RoutingStore

    store = RoutingStore(redis, load_seats(seats_file, lanes=("deputy", "enterprise", "general")))
    await store.load_scripts()
    return store, SeatService(store)


async def _busy_seats(seats) -> list[str]:
    return [s.seat_id for s in await seats.seats() if s.state.value in ("ringing", "on_call")]


async def test_asterisk_restart_rebuilds_seat_states(tmp_path, shared_redis):
    """Asterisk restarts under 4 answered calls and 2 waiting: the controller's AMI reconnects
    and resyncs; no seat is left ringing or on a call, the softphone seat whose phone is not
    registered (device state UNAVAILABLE over AMI) is paused 离线, and new calls are answered."""
    import redis.asyncio as aioredis

    seats_file, tree_file = _bench_files(tmp_path)
    h = await Hotline(tmp_path, "a", shared_redis.url, seats_file, tree_file, 4).start()
    redis = aioredis.from_url(shared_redis.url, decode_responses=True)
    calls: list[asyncio.Future] = []
    try:
        store, seats = await _seat_service(redis, seats_file)
        await seats.login("1005", "8005", pause_reason="小休")   # a softphone seat with no phone registered
        long_talk = {"__DEMO_TALK_S": "120"}
        calls = [later(0.3 * i, h.call(hold=150, timeout=170, variables=long_talk)) for i in range(6)]

        async def loaded():
            ids = await _call_ids(redis)
            phases = [(await store.call(c)).phase.value for c in ids]
            return len(ids) == 6 and sorted(phases) == ["on_call"] * 4 + ["waiting"] * 2
        await until(loaded, 40, "4 calls on seats and 2 waiting", every=0.3)
        await seats.ready("1005")
        assert sorted(await _busy_seats(seats)) == SEATS[:4]

        await asyncio.to_thread(_stop_group, h.info["pids"]["asterisk"])    # Asterisk goes down...
        await asyncio.gather(*calls)                          # (every simulated call died with it)
        h.restarted_asterisk = subprocess.Popen(               # ...and starts again, same config and ports
            ["asterisk", "-C", h.info["asterisk_conf"], "-f", "-n", "-g"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

        last: dict = {}

        async def rebuilt():
            sts = {s.seat_id: s for s in await seats.seats()}
            last.update({k: (v.state.value, v.reason) for k, v in sts.items()})
            return (not await _busy_seats(seats) and sts["1005"].reason == "离线"
                    and all(sts[s].state.value == "ready" for s in SEATS[:4]))
        try:
            await until(rebuilt, 40, "seat states rebuilt after the restart", every=0.5)
        except AssertionError:
            raise AssertionError(f"seat states after the restart: {last}") from None
        for c in await _call_ids(redis):
            assert (await store.call(c)).phase.value == "ended", c
        await h.ami.wait_connected(30)
        after = await asyncio.gather(*(h.call(hold=60, timeout=80) for _ in range(2)))
    finally:
        for c in calls:
            c.cancel()
        await h.stop()
        await redis.aclose()
    for r in after:
        assert r.completed and not r.fallback, r.sim_id
        dials = [e for e in h.events if e.name == "DialEnd" and e.get("Uniqueid") == r.ivr_uniqueid]
        assert [e.get("DialStatus") for e in dials] == ["ANSWER"], r.sim_id
        assert "1005" not in dials[0].get("DestChannel", "")


async def test_controller_restart_leaves_nobody_on_call(tmp_path, shared_redis):
    """The controller dies (SIGKILL) with 4 calls on seats, its Asterisk is gone too; a new
    controller of the same node (routing.node) on the same Redis resyncs at start: no seat stuck
    on a call, calls answered again. (Another node's calls wait for its heartbeat to stop.)"""
    import redis.asyncio as aioredis

    seats_file, tree_file = _bench_files(tmp_path)
    h1 = await Hotline(tmp_path, "a", shared_redis.url, seats_file, tree_file, 4, node="ctl-a").start()
    redis = aioredis.from_url(shared_redis.url, decode_responses=True)
    calls: list[asyncio.Future] = []
    h2 = None
    try:
        store, seats = await _seat_service(redis, seats_file)
        calls = [later(0.3 * i, h1.call(hold=150, timeout=170, variables={"__DEMO_TALK_S": "120"}))
                 for i in range(4)]

        async def on_call():
            phases = [(await store.call(c)).phase.value for c in await _call_ids(redis)]
            return sorted(await _busy_seats(seats)) == SEATS[:4] and phases == ["on_call"] * 4
        await until(on_call, 40, "4 calls on seats", every=0.3)
        os.kill(h1.info["pids"]["controller"], signal.SIGKILL)
        await asyncio.to_thread(h1.proc.wait, 10)
        await h1.stop()                                        # its Asterisk (and the calls) go too
        assert sorted(await _busy_seats(seats)) == SEATS[:4]   # Redis still says "on call"
        h2 = await Hotline(tmp_path, "b", shared_redis.url, seats_file, tree_file, 4, node="ctl-a").start()
        assert await _busy_seats(seats) == []                  # resynced before it said READY
        states = {s.seat_id: s.state.value for s in await seats.seats()}
        assert all(states[s] == "ready" for s in SEATS[:4]), states
        for c in await _call_ids(redis):
            st = await store.call(c)
            assert (st.phase.value, st.end_reason) == ("ended", "lost"), c
        after = await asyncio.gather(*(h2.call(hold=60, timeout=80) for _ in range(2)))
    finally:
        for c in calls:
            c.cancel()
        await h1.stop()
        if h2 is not None:
            await h2.stop()
        await redis.aclose()
    for r in after:
        assert r.completed and not r.fallback, r.sim_id
