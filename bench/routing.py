"""`hotline bench routing`: routing decisions on Redis, then seat free -> seat
ringing through a real Asterisk, ours against Asterisk's own app_queue, in one run.

1. Decisions (``bench.routing_redis.run_bench``) on a private Redis: ``callers``
   waiting across ``lanes`` lanes, seats freed at a steady rate; decision
   latency p50/p99 and assignments per second.
2. Baseline, app_queue: ``live_callers`` simulated callers wait in one
   ``Queue()`` whose members are ``live_seats`` demo seats (auto-answering
   Local channels that talk a few seconds and hang up); strategy leastrecent,
   no wrap-up, autofill.
3. The hotline on the same Asterisk: the same callers through the IVR into a
   lane, routed on Redis and dialled over each call's FastAGI session, to the
   same demo seats (wrap-up 0).

The latency compared in 2 and 3 is the same AMI-observed interval: a seat's
channel hangs up (``Hangup`` of ``Local/<seat>@hotline-demo-seat-...;1``) ->
the next ``DialBegin`` to that seat. Each side also reports its own view
(app_queue: AgentComplete -> AgentCalled; the hotline: seat ready -> call
assigned -> DialBegin). Times come from Asterisk's event timestamps and the
routing engine's clock, on one machine.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from bench.routing_redis import run_bench
from devstack.procs import RedisServer
from devstack.simcall import CallResult, place_call
from dialplan.model import Context, Extension, steps
from hotline.runtime import Runtime
from pbx.ami import AMIEvent
from pbx.contract import DEMO_SEAT, seat_interface
from pbx.events import QueueEntry, QueueMember

REPO = Path(__file__).resolve().parent.parent
START_LIMIT_S = 180.0          # the private Asterisk, Redis and controller up
log = logging.getLogger("hotline.bench.routing")
BENCH_QUEUE = "hotline-bench-q"
BENCH_ENTRY = "hotline-bench-q-entry"
_SEAT_CHAN = re.compile(rf"^Local/(\d+)@{re.escape(DEMO_SEAT)}-[0-9a-f]+;1$")

# The hotline side: straight into the general lane, no prompts, no survey.
BENCH_TREE = {
    "version": 1, "name": "bench-routing", "entry": "q",
    "lanes": {"deputy": {"label": "人大代表通道", "priority": 9},
              "enterprise": {"label": "政企通专席", "priority": 5},
              "general": {"label": "综合受理", "priority": 1}},
    "nodes": {"q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
              "bye": {"type": "hangup"}},
}


def _queue_conf(members: list[str]) -> str:
    lines = [f"\n[{BENCH_QUEUE}]", "strategy = leastrecent", "joinempty = yes", "leavewhenempty = no",
             "timeout = 15", "retry = 1", "wrapuptime = 0", "ringinuse = no", "autofill = yes",
             "announce-frequency = 0", "periodic-announce-frequency = 0", "announce-holdtime = no"]
    return "\n".join(lines + [f"member => {m}" for m in members]) + "\n"


def _entry_context() -> Context:
    return Context(BENCH_ENTRY, (Extension("_X.", steps(
        ("Answer", ""),
        ("Queue", f"{BENCH_QUEUE},r,,,600"),
        ("Hangup", ""),
    )),), comment="Benchmark baseline: callers wait in app_queue.")


class _BenchRuntime(Runtime):
    """The product's runtime plus the baseline queue, whose members are the demo seats."""

    def generated_config(self) -> dict[str, str]:
        out = super().generated_config()
        members = [seat_interface(sid, True) for sid in (self.hotline.routing.demo if self.hotline else [])]
        out["queues_hotline.conf"] += _queue_conf(members)
        return out


def _summary(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    xs = sorted(ms)

    def pct(p: float) -> float:
        return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 1)
    return {"p50": pct(50), "p99": pct(99), "max": round(xs[-1], 1), "n": len(xs)}


def _ts(e: AMIEvent) -> float:
    try:
        return float(e.get("Timestamp"))
    except (TypeError, ValueError):
        return time.time()


class _Watch:
    """Seat-channel hangups and dials to seats, from one AMI subscription (in order)."""

    def __init__(self) -> None:
        self.hangups: dict[str, list[float]] = defaultdict(list)
        self.dials: dict[str, list[float]] = defaultdict(list)
        self.complete: dict[str, float] = {}
        self.queue_lat: list[float] = []

    def __call__(self, e: AMIEvent) -> None:
        if e.name == "Hangup":
            m = _SEAT_CHAN.match(e.get("Channel", ""))
            if m:
                self.hangups[m.group(1)].append(_ts(e))
        elif e.name == "DialBegin":
            m = _SEAT_CHAN.match(e.get("DestChannel", ""))
            if m:
                self.dials[m.group(1)].append(_ts(e))
        elif e.name == "AgentComplete" and e.get("Queue") == BENCH_QUEUE:
            self.complete[e.get("Interface", "")] = _ts(e)
        elif e.name == "AgentCalled" and e.get("Queue") == BENCH_QUEUE:
            t0 = self.complete.pop(e.get("Interface", ""), None)
            if t0 is not None:
                self.queue_lat.append((_ts(e) - t0) * 1000)

    def free_to_ringing_ms(self) -> list[float]:
        """Per seat: a hangup -> the next dial to that seat before its next hangup (none: nobody waited)."""
        return _next_after(self.hangups, self.dials)


def _next_after(starts: dict[str, list[float]], ends: dict[str, list[float]]) -> list[float]:
    """Per seat, each start -> the first end at or after it and before the seat's next start (ms)."""
    out = []
    for seat, ts in starts.items():
        ts, later = sorted(ts), sorted(ends.get(seat, []))
        for i, t in enumerate(ts):
            limit = ts[i + 1] if i + 1 < len(ts) else float("inf")
            nxt = next((x for x in later if t <= x < limit), None)
            if nxt is not None:
                out.append((nxt - t) * 1000)
    return out


# Each demo seat call lasts ~6 s (a 2 s reply, 3 s on the line, set-up); a side of the benchmark
# gets three times what its callers need with every seat busy, plus a margin, then is stopped.
SEAT_CALL_S = 6.0


def side_deadline_s(callers: int, seats: int) -> float:
    """How long one side may take before it is stopped and reported (never waits unbounded)."""
    rounds = -(-callers // max(1, seats))
    return round(30.0 + 3 * (rounds * SEAT_CALL_S + 0.03 * callers), 1)


class Stuck(RuntimeError):
    """A side of the benchmark did not finish in time; ``report`` says what was missing."""

    def __init__(self, side: str, report: dict[str, Any]) -> None:
        super().__init__(f"{side}: {report.get('missing')}")
        self.side, self.report = side, report


def _call_view(r: CallResult) -> dict[str, Any]:
    """Where an unfinished simulated call is: its halves, contexts, last application, dials."""
    up = {r.caller_uniqueid, r.ivr_uniqueid} - {e.get("Uniqueid") for e in r.named("Hangup")}
    apps = r.applications()
    dials = [(e.name, e.get("DestChannel", ""), e.get("DialStatus", "")) for e in r.events
             if e.name in ("DialBegin", "DialEnd")]
    orig = r.named("OriginateResponse")
    return {"sim_id": r.sim_id, "age_s": round(r.duration, 1),
            "halves_up": sorted("caller" if u == r.caller_uniqueid else "ivr" for u in up),
            "originate": orig[-1].get("Response") if orig else "no OriginateResponse yet",
            "contexts": r.contexts(), "last_app": apps[-1] if apps else None,
            "dials": dials[-4:], "events": len(r.events),
            "last_events": [e.name for e in r.events[-6:]]}


async def _pbx_view(rt: Runtime) -> dict[str, Any]:
    """The channels up and the baseline queue's members and callers, from AMI (caller ids left out)."""
    out: dict[str, Any] = {}
    try:
        assert rt.ami is not None                              # the runtime has started
        chans = await rt.ami.core_show_channels()
        out["channels"] = [{"Channel": c.channel, "ChannelStateDesc": c.state_desc, "Context": c.context,
                            "Exten": c.exten, "Application": c.application, "Duration": c.duration,
                            "BridgeId": c.bridge_id} for c in chans]
        q = await rt.ami.queue_status(BENCH_QUEUE)
        out["queue_members"] = [{"Name": m.name, "Status": m.status, "InCall": m.in_call, "Paused": m.paused,
                                 "CallsTaken": m.calls_taken, "LastCall": m.last_call}
                                for m in q if isinstance(m, QueueMember)]
        out["queue_callers"] = sum(1 for e in q if isinstance(e, QueueEntry))
    except Exception as exc:        # diagnostics only: say why they are missing
        out["ami_error"] = repr(exc)
    return out


async def _routing_view(rt: Runtime) -> dict[str, Any]:
    """Seats and calls as the routing engine has them in Redis."""
    try:
        assert rt.hotline is not None
        routing = rt.hotline.routing
        store = routing.store
        seats = [{"seat": s.seat_id, "state": s.state.value, "reason": s.reason, "call": s.call_id,
                  "for_s": round(time.time() - s.since, 1) if s.since else None}
                 for s in await store.seats(routing.demo)]
        calls = {}
        for cid in await store.active_calls():
            st = await store.call(cid)
            if st is not None and st.phase.value != "ended":
                calls[cid] = {"phase": st.phase.value, "seat": st.seat_id, "node": st.node}
        return {"seats": seats, "calls": calls}
    except Exception as exc:
        return {"redis_error": repr(exc)}


def _tasks_view(rt: Runtime) -> list[dict[str, Any]]:
    """The controller's background loops (matcher, dispatcher...): alive, and where each is waiting."""
    out = []
    for t in rt.tasks:
        row: dict[str, Any] = {"task": t.get_name(), "done": t.done()}
        if t.done():
            row["ended"] = "cancelled" if t.cancelled() else f"{type(t.exception()).__name__}: {t.exception()}"
        else:
            row["at"] = [f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}"
                         for f in t.get_stack(limit=12)]
        out.append(row)
    return out


async def _callers(rt: Runtime, n: int, side: str, seats: int, **kw) -> tuple[int, float]:
    """``n`` simulated callers, 30 ms apart; every one finished within ``side_deadline_s``, or
    ``Stuck`` with what was missing (calls not over, channels up, queue and seats) after the
    leftover calls are hung up."""
    limit = side_deadline_s(n, seats)
    placed: list[CallResult] = []
    t0 = time.perf_counter()

    async def one(i: int) -> CallResult:
        await asyncio.sleep(0.03 * i)
        assert rt.ami is not None                              # the runtime has started
        # the simulated caller holds on longer than the side may last: only the bench hangs up on it
        return await place_call(rt.ami, caller=f"1370{i:07d}", hold=limit + 60, timeout=limit + 30,
                                on_placed=placed.append, **kw)
    tasks = [asyncio.create_task(one(i), name=f"{side}-caller-{i}") for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=limit)
    wall = time.perf_counter() - t0
    failed = [t for t in done if t.exception() is not None]
    results = [t.result() for t in done if t.exception() is None]
    short = [r for r in results if not r.completed]
    if not pending and not failed and not short:
        return len(results), wall
    over = {r.sim_id for r in results if r.completed}
    report: dict[str, Any] = {
        "missing": f"{n - len(over)} of {n} calls not over after {wall:.1f} s (limit {limit:g} s)",
        "completed": len(over),
        "calls_not_over": [_call_view(r) for r in placed if r.sim_id not in over],
        "not_placed": n - len(placed),
        "errors": [repr(t.exception()) for t in failed], "tasks": _tasks_view(rt),
        "pbx": await _pbx_view(rt), "routing": await _routing_view(rt)}
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for r in placed:                           # leave nothing up for the next side / the shutdown
        if r.sim_id not in over:
            for chan in {e.get("Channel") for e in r.events if e.get("Uniqueid") == r.caller_uniqueid} - {None, ""}:
                with contextlib.suppress(Exception):
                    assert rt.ami is not None
                    await rt.ami.hangup(chan)
    raise Stuck(side, report)


async def _hang_up_everything(rt: Runtime) -> None:
    with contextlib.suppress(Exception):
        assert rt.ami is not None
        for c in await rt.ami.core_show_channels():
            with contextlib.suppress(Exception):
                await rt.ami.hangup(c.channel)


async def _app_queue(rt: Runtime, callers: int, seats: int) -> dict[str, Any]:
    watch = _Watch()
    assert rt.ami is not None
    unsubscribe = rt.ami.on_event("*", watch)
    try:
        completed, wall = await _callers(rt, callers, "baseline_app_queue", seats,
                                         did="2000", entry_context=BENCH_ENTRY)
    finally:
        unsubscribe()
    return {"completed": completed, "wall_s": round(wall, 2),
            "free_to_ringing_ms": _summary(watch.free_to_ringing_ms()),
            "agentcomplete_to_agentcalled_ms": _summary(watch.queue_lat)}


async def _hotline(rt: Runtime, callers: int, seats: int) -> dict[str, Any]:
    from agents.events import all_events

    watch = _Watch()
    assert rt.ami is not None and rt.redis is not None        # the runtime has started
    before = {eid for eid, _ in await all_events(rt.redis)}
    unsubscribe = rt.ami.on_event("*", watch)
    try:
        completed, wall = await _callers(rt, callers, "hotline", seats, did="12345")
    finally:
        unsubscribe()
    freed: dict[str, float] = {}
    decided: list[float] = []
    ready: dict[str, list[float]] = defaultdict(list)       # frees that were followed by a ring
    for eid, e in await all_events(rt.redis):
        if eid in before or e["type"] != "seat_state":
            continue
        seat = e["seat_id"]
        if e["from"] == "on_call" and e["to"] == "ready":
            freed[seat] = e["at"]
        elif e["from"] == "ready" and e["to"] == "ringing" and seat in freed:
            t = freed.pop(seat)
            decided.append((e["at"] - t) * 1000)
            ready[seat].append(t)
        else:
            freed.pop(seat, None)
    return {"completed": completed, "wall_s": round(wall, 2),
            "free_to_ringing_ms": _summary(watch.free_to_ringing_ms()),
            "ready_to_assigned_ms": _summary(decided),
            "ready_to_ringing_ms": _summary(_next_after(ready, watch.dials))}


def _bench_files(folder: Path) -> tuple[Path, Path]:
    seats = yaml.safe_load((REPO / "config" / "seats.yaml").read_text(encoding="utf-8"))
    seats.update(wrap_up_s=0, reserved={}, repeat_caller=None,
                 callback={"offer_after_s": None, "max_attempts": 1, "retry_after_s": 60})
    seats_file, tree_file = folder / "seats.yaml", folder / "tree.yaml"
    seats_file.write_text(yaml.safe_dump(seats, allow_unicode=True), encoding="utf-8")
    tree_file.write_text(yaml.safe_dump(BENCH_TREE, allow_unicode=True), encoding="utf-8")
    return seats_file, tree_file


async def _live(folder: Path, callers: int, seats: int) -> dict[str, Any]:
    from hotline.app import compose
    from hotline.settings import load

    folder.mkdir(parents=True, exist_ok=True)
    seats_file, tree_file = _bench_files(folder)
    settings = load(overrides={
        "redis": {"url": ""}, "storage": {"data_dir": str(folder / "data")}, "stt": {"model": ""},
        "network": {"fastagi_port": 0, "ami_port": 0, "sip_port": 0, "web_port": 0, "redis_port": 0},
        "agents": {"seats": str(seats_file)}, "ivr": {"tree": str(tree_file)}, "log": {"level": "WARNING"}})
    rt = compose(settings, folder / "run", demo_seats=seats, persistent_redis=False, runtime=_BenchRuntime,
                 extra_contexts=lambda agi_url, prompts: (_entry_context(),))
    (folder / "run").mkdir()
    sides: dict[str, Any] = {}
    try:
        async with asyncio.timeout(START_LIMIT_S):
            await rt.start()
        for side, run_side in (("baseline_app_queue", _app_queue), ("hotline", _hotline)):
            try:
                sides[side] = await run_side(rt, callers, seats)
            except Stuck as exc:            # reported, then the next side runs on a clean PBX
                log.error("bench routing: %s did not finish: %s\n%s", side, exc.report["missing"],
                          json.dumps(exc.report, ensure_ascii=False, indent=1))
                sides[side] = {"completed": exc.report["completed"], "stuck": exc.report}
                await _hang_up_everything(rt)
                await asyncio.sleep(2)
    finally:
        await rt.stop()                 # every step bounded (background loops, FastAGI drain, Asterisk)
    baseline, ours = sides["baseline_app_queue"], sides["hotline"]

    def ratio(key: str) -> float | None:
        if "stuck" in ours or "stuck" in baseline:
            return None
        a, b = ours["free_to_ringing_ms"][key], baseline["free_to_ringing_ms"][key]
        return round(a / b, 3) if a is not None and b else None
    return {"callers": callers, "seats": seats,
            "seat": "demo seat: answers, says a 2 s reply, waits 3 s, hangs up",
            "measure": "seat channel hangs up -> next DialBegin to that seat (AMI timestamps)",
            "baseline_app_queue": baseline, "hotline": ours,
            "ratio_hotline_over_app_queue": {"p50": ratio("p50"), "p99": ratio("p99")}}


async def _decisions(folder: Path, callers: int, lanes: int, seats: int, free_rate: float) -> dict[str, Any]:
    server = RedisServer(folder, appendonly=False)
    await asyncio.to_thread(server.start)
    try:
        return await run_bench(server.url, callers=callers, lanes=lanes, seats=seats, free_rate=free_rate)
    finally:
        await asyncio.to_thread(server.stop)


async def run(callers: int = 1000, lanes: int = 3, seats: int = 50, free_rate: float = 200.0,
              live_callers: int = 40, live_seats: int = 10) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    try:
        out: dict[str, Any] = {"benchmark": "routing"}
        out["decisions_redis"] = await _decisions(folder / "redis", callers, lanes, seats, free_rate)
        if live_callers > 0:
            out["live_asterisk"] = await _live(folder / "live", live_callers, live_seats)
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":                      # pragma: no cover - `hotline bench routing` is the entry
    print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
