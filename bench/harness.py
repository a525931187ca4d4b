"""What the call benchmarks share: the controller under test in its own
process (so its CPU and latency are its own), simulated callers through the
real Asterisk, CPU from /proc, percentiles, ratios."""
from __future__ import annotations

import asyncio
import importlib
import multiprocessing as mp
import os
import statistics
import time

from devstack.simcall import place_call


def proc_cpu(pid: int) -> float:
    """utime+stime of a process in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))]


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(baseline: dict, ours: dict) -> dict:
    """Ratios ours/baseline of two `batch` rows (the controller's CPU counts on our side only)."""
    base_cpu = baseline["asterisk_cpu_s_per_call"]
    return {
        "calls_per_s": ratio(ours["calls_per_s"], baseline["calls_per_s"]),
        "asterisk_cpu_per_call": ratio(ours["asterisk_cpu_s_per_call"], base_cpu),
        "total_cpu_per_call": ratio(ours["asterisk_cpu_s_per_call"] + ours.get("controller_cpu_s_per_call", 0.0),
                                    base_cpu),
        "call_duration": ratio(ours["call_duration_p50_s"], baseline["call_duration_p50_s"]),
    }


def _child(conn, builder: str, arg) -> None:
    """Child process: build the handlers (module:function(arg) -> (handlers, report)), serve FastAGI."""
    from pbx.agi_server import FastAGIServer

    async def main() -> None:
        module, func = builder.split(":")
        handlers, report = await getattr(importlib.import_module(module), func)(arg)
        server = FastAGIServer(handlers, port=0)
        await server.start()
        conn.send(server.port)
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "mark":
                conn.send({"cpu": time.process_time(), **report()})
            elif msg == "stop":
                await server.stop()
                conn.send("stopped")
                return

    asyncio.run(main())


class ControllerProcess:
    def __init__(self, builder: str, arg) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child, builder, arg), daemon=True)
        self.port = 0

    async def start(self) -> int:
        self.proc.start()
        self.port = await asyncio.wait_for(asyncio.to_thread(self.conn.recv), 60)
        return self.port

    async def mark(self) -> dict:
        await asyncio.to_thread(self.conn.send, "mark")
        return await asyncio.to_thread(self.conn.recv)

    async def stop(self) -> None:
        try:
            self.conn.send("stop")
            await asyncio.wait_for(asyncio.to_thread(self.conn.recv), 15)
        except Exception:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


async def batch(rt, context: str, calls: int, concurrency: int, controller: ControllerProcess | None = None,
                **call_kwargs) -> tuple[dict, dict | None]:
    """Place `calls` simulated calls into `context`; wall time, CPU per call, durations."""
    ast_pid = rt.asterisk.process.pid
    sem = asyncio.Semaphore(concurrency)
    results = []

    async def one(i: int):
        async with sem:
            results.append(await place_call(rt.ami, did=f"{1000 + i}", caller=f"1380000{i:04d}",
                                            entry_context=context, **call_kwargs))

    ctl0 = await controller.mark() if controller else None
    cpu_a0, cpu_h0, t0 = proc_cpu(ast_pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.perf_counter() - t0
    cpu_a, cpu_h = proc_cpu(ast_pid) - cpu_a0, time.process_time() - cpu_h0
    ctl = await controller.mark() if controller else None
    ok = sum(1 for r in results if r.completed)
    durations = [r.duration for r in results if r.completed]
    row = {
        "calls": calls, "completed": ok, "wall_s": round(wall, 3),
        "calls_per_s": round(ok / wall, 2) if wall else 0.0,
        "asterisk_cpu_s_per_call": round(cpu_a / max(ok, 1), 5),
        "callers_harness_cpu_s_per_call": round(cpu_h / max(ok, 1), 5),
        "call_duration_p50_s": round(statistics.median(durations), 3) if durations else None,
    }
    if ctl is not None and ctl0 is not None:
        row["controller_cpu_s_per_call"] = round((ctl["cpu"] - ctl0["cpu"]) / max(ok, 1), 5)
    return row, ctl
