"""`hotline bench routing`: routing decisions on Redis, then seat free -> seat
ringing through a real Asterisk, ours against Asterisk's own app_queue, in one run.

1. Decisions (``agents.bench.run_bench``) on a private Redis: ``callers``
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
import json
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from agents.bench import run_bench
from dialplan.hotline import DEMO_SEAT
from dialplan.model import Context, Extension, steps
from dialplan.seats import seat_interface
from hotline.procs import RedisServer
from hotline.runtime import Runtime
from hotline.simcall import place_call
from pbx.ami import AMIEvent

REPO = Path(__file__).resolve().parent.parent
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
        members = [seat_interface(sid, True) for sid in self.services.get("demo_seats", [])]
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


async def _callers(rt: Runtime, n: int, **kw) -> tuple[int, float]:
    t0 = time.perf_counter()

    async def one(i: int):
        await asyncio.sleep(0.03 * i)
        return await place_call(rt.ami, caller=f"1370{i:07d}", hold=600, timeout=600, **kw)
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return sum(1 for r in results if r.completed), time.perf_counter() - t0


async def _app_queue(rt: Runtime, callers: int) -> dict[str, Any]:
    watch = _Watch()
    unsubscribe = rt.ami.on_event("*", watch)
    try:
        completed, wall = await _callers(rt, callers, did="2000", entry_context=BENCH_ENTRY)
    finally:
        unsubscribe()
    return {"completed": completed, "wall_s": round(wall, 2),
            "free_to_ringing_ms": _summary(watch.free_to_ringing_ms()),
            "agentcomplete_to_agentcalled_ms": _summary(watch.queue_lat)}


async def _hotline(rt: Runtime, callers: int) -> dict[str, Any]:
    from agents.events import all_events

    watch = _Watch()
    before = {eid for eid, _ in await all_events(rt.redis)}
    unsubscribe = rt.ami.on_event("*", watch)
    try:
        completed, wall = await _callers(rt, callers, did="12345")
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
    from hotline.app import make_wire, started
    from hotline.settings import load

    folder.mkdir(parents=True, exist_ok=True)
    seats_file, tree_file = _bench_files(folder)
    settings = load(overrides={
        "redis": {"url": ""}, "storage": {"data_dir": str(folder / "data")}, "stt": {"model": ""},
        "network": {"fastagi_port": 0, "ami_port": 0, "sip_port": 0, "web_port": 0, "redis_port": 0},
        "agents": {"seats": str(seats_file)}, "ivr": {"tree": str(tree_file)}, "log": {"level": "WARNING"}})
    rt = _BenchRuntime(settings, folder / "run", wire=make_wire(seats), started=started, persistent_redis=False)
    rt.extra_contexts_factory = lambda agi_url, prompts: (_entry_context(),)
    (folder / "run").mkdir()
    try:
        await rt.start()
        baseline = await _app_queue(rt, callers)
        ours = await _hotline(rt, callers)
    finally:
        await rt.stop()

    def ratio(key: str) -> float | None:
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
