"""`hotline bench agi`: the same short call flow through our controller (FastAGI)
and as plain dialplan, on the same private Asterisk, in one run.

Flow: answer, read the caller number, play a 1 s prompt, read one key the
caller sends, set two variables, hang up. Prints JSON with calls per second,
CPU seconds per call (Asterisk and controller process separately), the AGI
round-trip latency p50/p99 and the ratios controller/baseline.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ControllerProcess, batch, compare, pct
from dialplan.model import Context, Extension, steps
from pbx import contract as V
from pbx.agi import AGISession

PLAIN = "hotline-bench-plain"
VIA_AGI = "hotline-bench-agi"


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


async def build(prompt: str):
    """Controller-process builder: the bench handler, and what it reports."""
    handler = BenchHandler(prompt)

    def report() -> dict:
        out = {"rtt": list(handler.rtt), "keys": list(handler.keys)}
        handler.rtt.clear()
        handler.keys.clear()
        return out
    return {"bench": handler}, report


async def run(calls: int = 50, concurrency: int | None = None, settings=None) -> dict:
    from hotline.app import compose
    from hotline.settings import load
    from recordings.tts import PromptCache

    settings = settings or load()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-agi-"))
    prompt = str(PromptCache(run_dir / "sounds").ensure(PROMPT_TEXT))
    controller = ControllerProcess("bench.agi:build", prompt)
    rt = compose(settings, run_dir, features=False, persistent_redis=False,
                 extra_contexts=lambda agi_url, prompts: bench_contexts(f"agi://127.0.0.1:{controller.port}", prompt))
    # The key comes after the prompt has played in full.
    caller: dict[str, Any] = dict(keys="2", wait=1.9, key_gap=0.2, hold=8, timeout=30)
    try:
        await controller.start()
        await rt.start()
        conc = concurrency or calls
        await batch(rt, PLAIN, min(5, calls), conc, **caller)                 # warm-up, both paths
        await batch(rt, VIA_AGI, min(5, calls), conc, controller, **caller)
        baseline, _ = await batch(rt, PLAIN, calls, conc, **caller)
        ours, ctl = await batch(rt, VIA_AGI, calls, conc, controller, **caller)
        assert ctl is not None                                             # a controller was given
        ours["keys_read"] = sum(1 for k in ctl["keys"] if k == "2")
        ours["agi_rtt_ms"] = {"p50": round(pct(ctl["rtt"], 50) * 1000, 3),
                              "p99": round(pct(ctl["rtt"], 99) * 1000, 3), "samples": len(ctl["rtt"])}
        return {"benchmark": "agi", "concurrency": conc,
                "flow": "answer, caller number, 1 s prompt, one key, two variables, hang up",
                "baseline_plain_dialplan": baseline, "controller_fastagi": ours,
                "ratio_controller_over_baseline": compare(baseline, ours),
                "note": "the controller runs in its own process; the simulated callers' AMI work "
                        "(callers_harness_cpu) is the same for both rows and belongs to neither system"}
    finally:
        await rt.stop()
        await controller.stop()
