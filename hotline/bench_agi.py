"""`hotline bench agi`: the same short call flow through our controller (FastAGI)
and as plain dialplan, on the same private Asterisk, in one run.

Flow: answer, read the caller number, play a 1 s prompt, read one key the
caller sends, set two variables, hang up. Prints JSON with calls per second,
CPU seconds per call (Asterisk and controller process separately), the AGI
round-trip latency p50/p99 and the ratios controller/baseline.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from dialplan.model import Context, Extension, steps
from hotline.simcall import place_call
from pbx import chanvars as V
from pbx.agi import AGISession

PLAIN = "hotline-bench-plain"
VIA_AGI = "hotline-bench-agi"


def _proc_cpu(pid: int) -> float:
    """utime+stime of a process in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    return time.process_time()


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


PROMPT_TEXT = "请按一个键。"      # about 1 s


def bench_contexts(agi_url: str, prompt: str) -> tuple[Context, ...]:
    plain = Context(PLAIN, (Extension("_X.", steps(
        ("Answer", ""),
        ("Set", "BCALLER=${CALLERID(num)}"),
        ("Read", f"BKEY,{prompt},1,,1,5"),
        ("Set", "BENCH_A=${BKEY}"),
        ("Set", "BENCH_B=${BCALLER}"),
        ("Hangup", ""),
    )),), comment="Benchmark baseline: the flow in plain dialplan.")
    via = Context(VIA_AGI, (Extension("_X.", steps(
        ("AGI", f"{agi_url}/bench"),
        ("Hangup", ""),
    )),), comment="Benchmark: the same flow through the controller.")
    return plain, via


class BenchHandler:
    """The flow as a FastAGI handler, timing each short command's round trip."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.rtt: list[float] = []
        self.keys: list[str] = []

    async def _timed(self, coro):
        t = time.perf_counter()
        out = await coro
        self.rtt.append(time.perf_counter() - t)
        return out

    async def __call__(self, s: AGISession) -> None:
        await self._timed(s.answer())
        caller = await self._timed(s.get_variable("CALLERID(num)"))
        digits, _ = await s.get_data(self.prompt, timeout_ms=5000, max_digits=1)
        self.keys.append(digits)
        await self._timed(s.set_variable("BENCH_A", digits))
        await self._timed(s.set_variable("BENCH_B", caller or ""))
        await self._timed(s.set_variable(V.NEXT, "hangup"))
        await self._timed(s.hangup())


def _controller_main(conn) -> None:
    """The controller side in its own process, so its CPU and latency are its own."""
    import asyncio as aio

    from pbx.agi_server import FastAGIServer

    async def main() -> None:
        prompt = conn.recv()
        handler = BenchHandler(prompt)
        server = FastAGIServer({"bench": handler}, port=0)
        await server.start()
        conn.send(server.port)
        loop = aio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "mark":
                conn.send({"cpu": time.process_time(), "rtt": list(handler.rtt), "keys": list(handler.keys)})
                handler.rtt.clear()
                handler.keys.clear()
            elif msg == "stop":
                await server.stop()
                conn.send("stopped")
                return

    aio.run(main())


async def _batch(rt, context: str, calls: int, concurrency: int, controller=None) -> dict:
    ast_pid = rt.asterisk.process.pid
    sem = asyncio.Semaphore(concurrency)
    results = []

    async def one(i: int):
        async with sem:
            # The key comes after the 1 s prompt has played in full.
            r = await place_call(rt.ami, did=f"{1000 + i}", caller=f"1380000{i:04d}", keys="2",
                                 wait=1.9, key_gap=0.2, hold=8, timeout=30, entry_context=context)
            results.append(r)

    async def mark():
        if controller is None:
            return None
        await asyncio.to_thread(controller.send, "mark")
        return await asyncio.to_thread(controller.recv)

    await mark()
    cpu_a0, cpu_h0, t0 = _proc_cpu(ast_pid), _self_cpu(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.perf_counter() - t0
    cpu_a, cpu_h = _proc_cpu(ast_pid) - cpu_a0, _self_cpu() - cpu_h0
    ctl = await mark()
    ok = sum(1 for r in results if r.completed)
    durations = [r.duration for r in results if r.completed]
    row = {
        "calls": calls, "completed": ok, "wall_s": round(wall, 3),
        "calls_per_s": round(ok / wall, 2) if wall else 0.0,
        "asterisk_cpu_s_per_call": round(cpu_a / max(ok, 1), 5),
        "callers_harness_cpu_s_per_call": round(cpu_h / max(ok, 1), 5),
        "call_duration_p50_s": round(statistics.median(durations), 3) if durations else None,
    }
    if ctl is not None:
        row["controller_cpu_s_per_call"] = round(ctl["cpu"] / max(ok, 1), 5)
        row["keys_read"] = sum(1 for k in ctl["keys"] if k == "2")
        row["agi_rtt_ms"] = {"p50": round(_pct(ctl["rtt"], 50) * 1000, 3),
                             "p99": round(_pct(ctl["rtt"], 99) * 1000, 3), "samples": len(ctl["rtt"])}
    return row


async def run(calls: int = 50, concurrency: int | None = None, settings=None) -> dict:
    import multiprocessing as mp

    from hotline.runtime import Runtime
    from hotline.settings import load

    settings = settings or load()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-agi-"))
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_controller_main, args=(child,), daemon=True)
    proc.start()
    rt = Runtime(settings, run_dir, persistent_redis=False)
    ports: dict = {}
    rt.extra_contexts_factory = lambda agi_url, prompts: bench_contexts(
        f"agi://127.0.0.1:{ports['agi']}", str(prompts.ensure(PROMPT_TEXT)))
    try:
        prompt_dir = run_dir / "sounds"
        from recordings.tts import PromptCache
        prompt = str(PromptCache(prompt_dir).ensure(PROMPT_TEXT))
        parent.send(prompt)
        ports["agi"] = await asyncio.to_thread(parent.recv)
        await rt.start()
        conc = concurrency or calls
        await _batch(rt, PLAIN, min(5, calls), conc)                     # warm-up, both paths
        await _batch(rt, VIA_AGI, min(5, calls), conc, parent)
        baseline = await _batch(rt, PLAIN, calls, conc)
        controller = await _batch(rt, VIA_AGI, calls, conc, parent)
        base_cpu = baseline["asterisk_cpu_s_per_call"]
        ratio = {
            "calls_per_s": round(controller["calls_per_s"] / baseline["calls_per_s"], 3)
            if baseline["calls_per_s"] else None,
            "asterisk_cpu_per_call": round(controller["asterisk_cpu_s_per_call"] / base_cpu, 3) if base_cpu else None,
            "total_cpu_per_call": round((controller["asterisk_cpu_s_per_call"] + controller["controller_cpu_s_per_call"])
                                        / base_cpu, 3) if base_cpu else None,
            "call_duration": round(controller["call_duration_p50_s"] / baseline["call_duration_p50_s"], 3)
            if baseline["call_duration_p50_s"] else None,
        }
        return {"benchmark": "agi", "concurrency": conc,
                "flow": "answer, caller number, 1 s prompt, one key, two variables, hang up",
                "baseline_plain_dialplan": baseline, "controller_fastagi": controller,
                "ratio_controller_over_baseline": ratio,
                "note": "the controller runs in its own process; the simulated callers' AMI work "
                        "(callers_harness_cpu) is the same for both rows and not part of either system"}
    finally:
        await rt.stop()
        try:
            parent.send("stop")
            await asyncio.wait_for(asyncio.to_thread(parent.recv), 15)
        except Exception:
            pass
        proc.join(5)
        if proc.is_alive():
            proc.kill()
