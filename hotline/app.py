"""The composition root: every service is built here and handed its
collaborators; nothing else creates clients.
"""
from __future__ import annotations

from pathlib import Path

from agents.fallback_queue import FallbackQueueRunner
from hotline.runtime import Runtime
from hotline.settings import Settings
from ivr.calls import CallRecords
from ivr.handler import IvrCallHandler
from ivr.trees import TreeSource
from ivr.versions import VersionStore
from recordings.prompts import PromptResolver


def data_dir(settings: Settings) -> Path:
    d = settings.path(settings.storage.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


async def wire(rt: Runtime) -> dict:
    s = rt.settings
    base_dir = s.path("config")
    data = data_dir(s)
    versions = VersionStore(rt.redis, TreeSource.validator(base_dir), name=s.hotline.name)
    resolver = PromptResolver(rt.prompts, base_dir, uploads_dir=data / "prompts")
    trees = TreeSource(versions, base_dir, prewarm=resolver.prewarm)
    await trees.ensure_published(s.path(s.ivr.tree))
    await trees.current()                      # parse and synthesise the prompts before calls arrive
    calls = CallRecords(rt.redis)
    silence = rt.prompts.silence(1)
    ivr = IvrCallHandler(trees, resolver, calls, FallbackQueueRunner(s.fallback.queue_timeout_s),
                         recordings_dir=data / "recordings", transfer_dial=s.transfer.dial,
                         silence=str(silence))
    rt.services.update(versions=versions, trees=trees, calls=calls, prompts=resolver)
    return {"ivr": ivr}


def compose(settings: Settings, run_dir: Path, demo_seats: int = 0) -> Runtime:
    return Runtime(settings, run_dir, wire=wire)
