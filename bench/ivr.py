"""`hotline bench ivr`: M concurrent calls walk the default tree (greeting,
menu, key 2, to the enterprise lane's entry) through the real Asterisk and our
controller; in the same run, the same tree hand-written as plain dialplan is
the baseline. Also the validation time of a 10,000-node tree against plain
YAML parsing of the same document.
"""
from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.harness import ControllerProcess, batch, compare, ratio
from dialplan.model import Context, Extension, steps
from hotline.settings import REPO

PLAIN = "hotline-bench-ivr-plain"
VIA_AGI = "hotline-bench-ivr-agi"
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


async def build(arg: dict):
    """Controller-process builder: the product's IVR handler on the bench's Redis; the walk stops at the queue."""
    from ivr.calls import CallRecords
    from ivr.handler import IvrCallHandler, WalkEnded
    from ivr.trees import TreeSource
    from ivr.versions import VersionStore
    from kernel.redis import redis_client
    from recordings.prompts import PromptResolver
    from recordings.tts import PromptCache

    class Queued(WalkEnded):
        reason = "queued"

    lanes: list[str] = []

    class StopAtQueue:
        async def run(self, call, action):
            lanes.append(action.lane)
            raise Queued()

    redis = redis_client(arg["redis"])
    base = REPO / "config"
    versions = VersionStore(redis, TreeSource.validator(base), name="bench")
    resolver = PromptResolver(PromptCache(Path(arg["sounds"])), base)
    trees = TreeSource(versions, base, prewarm=resolver.prewarm)
    await trees.ensure_published(REPO / "config" / "ivr" / "zhuzhou.yaml")
    await trees.current()
    handler = IvrCallHandler(trees, resolver, CallRecords(redis), StopAtQueue(), recordings_dir=Path(arg["sounds"]),
                             clock=lambda: MONDAY_10)

    def report() -> dict:
        out = {"lanes": list(lanes)}
        lanes.clear()
        return out
    return {"ivr": handler}, report


def plain_contexts(greeting: str, menu: str, describe: str, rec_dir: str, agi_url: str) -> tuple[Context, ...]:
    """The default tree in plain dialplan: greeting, menu (key 2 in office hours -> enterprise),
    and the enterprise queue's describe step (prompt, then record until 3 s of silence)."""
    plain = Context(PLAIN, (Extension("_X.", steps(
        ("Answer", ""),
        ("Playback", greeting),
        ("Read", f"KEY,{menu},1,,2,4", "menu"),
        ("GotoIf", '$["${KEY}" = "2"]?hours'),
        ("GotoIf", '$["${KEY}" = "0" | "${KEY}" = ""]?general'),
        ("Goto", "menu"),
        ("GotoIfTime", "08:30-17:30,mon-fri,*,*?enterprise:general", "hours"),
        ("Set", "LANE=enterprise", "enterprise"),
        ("Goto", "describe"),
        ("Set", "LANE=general", "general"),
        ("Playback", describe, "describe"),     # both lanes describe, as the tree's queue nodes do
        ("Record", f"{rec_dir}/${{UNIQUEID}}.wav,3,30,q"),
        ("Hangup", ""),
    )),), comment="Benchmark baseline: the default tree in plain dialplan.")
    via = Context(VIA_AGI, (Extension("_X.", steps(
        ("Answer", ""),
        ("AGI", f"{agi_url}/ivr"),
        ("Hangup", ""),
    )),), comment="Benchmark: the default tree through the controller.")
    return plain, via


def validation_timing(nodes: int = 10_000) -> dict:
    from ivr.loader import load_text

    doc: dict[str, Any] = {"version": 1, "name": "big", "entry": "n0", "lanes": {"general": {"label": "综合", "priority": 1}},
           "nodes": {f"n{i}": {"type": "play", "prompt": {"text": f"提示{i}"}, "next": f"n{i + 1}"}
                     for i in range(nodes - 1)}}
    doc["nodes"][f"n{nodes - 1}"] = {"type": "queue", "lane": "general"}
    text = yaml.safe_dump(doc, allow_unicode=True)
    t = time.perf_counter()
    result = load_text(text)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    yaml.safe_load(text)
    base = time.perf_counter() - t
    return {"nodes": nodes, "bytes": len(text.encode()), "valid": result.ok, "validate_s": round(ours, 3),
            "baseline_yaml_safe_load_s": round(base, 3), "ratio": ratio(ours, base)}


async def run(calls: int = 100) -> dict:
    from devstack.procs import RedisServer
    from hotline.app import compose
    from hotline.settings import load
    from ivr.loader import parse_file
    from recordings.tts import PromptCache, TTSVoice

    run_dir = Path(tempfile.mkdtemp(prefix="bench-ivr-"))
    redis_server = RedisServer(run_dir, appendonly=False)
    redis_server.start()
    settings = load(overrides={"redis": {"url": redis_server.url}})
    tree = parse_file(REPO / "config" / "ivr" / "zhuzhou.yaml").data
    cache = PromptCache(run_dir / "sounds", TTSVoice(voice=settings.prompts.voice, speed=settings.prompts.speed))
    greeting = str(cache.ensure(tree["nodes"]["welcome"]["prompt"]["text"]))
    menu = str(cache.ensure(tree["nodes"]["menu"]["prompt"]["text"]))
    from ivr.model import DEFAULT_DESCRIBE_PROMPT
    assert DEFAULT_DESCRIBE_PROMPT.text is not None
    describe = str(cache.ensure(DEFAULT_DESCRIBE_PROMPT.text))
    (run_dir / "rec").mkdir()
    from recordings.tts import duration_s
    key_at = duration_s(Path(greeting + ".wav")) + 0.8       # during the menu prompt, in both versions
    controller: ControllerProcess | None = None

    def contexts(agi_url, prompts):
        assert controller is not None                                # started before the runtime
        return plain_contexts(greeting, menu, describe, str(run_dir / "rec"), f"agi://127.0.0.1:{controller.port}")
    rt = compose(settings, run_dir, features=False, persistent_redis=False, extra_contexts=contexts)
    caller: dict[str, Any] = dict(keys="2", wait=key_at, hold=key_at + 30, timeout=key_at + 45)
    try:
        controller = ControllerProcess("bench.ivr:build",
                                       {"redis": redis_server.url, "sounds": str(run_dir / "sounds")})
        await controller.start()
        await rt.start()
        await batch(rt, VIA_AGI, 3, 3, controller, **caller)                  # warm-up
        baseline, _ = await batch(rt, PLAIN, calls, calls, **caller)
        ours, ctl = await batch(rt, VIA_AGI, calls, calls, controller, **caller)
        assert ctl is not None                                             # a controller was given
        ours["reached_enterprise_lane"] = sum(1 for ln in ctl["lanes"] if ln == "enterprise")
        return {"benchmark": "ivr", "concurrency": calls,
                "flow": "default tree: greeting, menu, key 2 in office hours, describe (prompt + record), enterprise lane entry",
                "baseline_plain_dialplan": baseline, "controller_fastagi": ours,
                "ratio_controller_over_baseline": compare(baseline, ours),
                "validation_10000_nodes": validation_timing()}
    finally:
        await rt.stop()
        if controller:
            await controller.stop()
        redis_server.stop()
