"""Satisfaction callbacks (回访) as a feature: the closed-ticket webhook, the scheduler that calls
citizens back through the trunk within the allowed hours, the revisit tree (its own published
versions, walked by the same IVR engine and handler), results on the tickets, the campaign page.

Off (no routes, no tasks) without the records database, or when config/revisit.yaml says
``enabled: false``."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.revisit import Revisits, RevisitStore
from agents.revisit_plan import RevisitPolicy
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing
from hotline.features.tickets import Tickets
from ivr import engine as E
from ivr.handler import CallContext, IvrCallHandler
from ivr.trees import TreeSource
from ivr.versions import VersionStore
from pbx.contract import AGI_REVISIT
from pbx.events import OriginateResponse
from web.routes_revisit import revisit_routes

log = logging.getLogger("hotline.features.revisit")
TREE_NAME = "revisit"
TREE_LABEL = "回访流程"


@dataclass(kw_only=True)
class Revisit(Feature):
    revisits: Revisits | None          # None: the feature is off
    trees: TreeSource | None = None
    handler: IvrCallHandler | None = None


class _NoQueue:
    """The revisit tree puts nobody in a lane: a queue node there fails (its on_fail, else the end)."""

    async def run(self, call: CallContext, action: E.Queue) -> E.Event:
        return E.Failed("no_queue_in_revisit")


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"enabled": False}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return data


async def load(deps: Deps, trees: Trees, routing: Routing, tickets: Tickets) -> Revisit:
    cfg = read_config(deps.config_dir / "revisit.yaml")
    if not cfg.get("enabled", True) or deps.records is None:
        log.info("revisit: off (%s)", "no records database" if deps.records is None else "disabled")
        return Revisit(revisits=None)
    s, base_dir = deps.settings, deps.config_dir
    versions = VersionStore(deps.redis, TreeSource.validator(base_dir), name=f"{s.hotline.name}-{TREE_NAME}")
    editable = trees.editable.add(TREE_NAME, TREE_LABEL, versions, audit="ivr:revisit")    # in the admin's editor
    source = TreeSource(versions, base_dir, prewarm=trees.prompts.prewarm)
    await source.ensure_published(s.path(str(cfg.get("tree") or "config/ivr/revisit.yaml")))
    await source.current()                 # parsed and its prompts synthesised before the first call
    ami = deps.ami
    handler = IvrCallHandler(
        source, trees.prompts, trees.calls, _NoQueue(), recordings_dir=s.recordings_dir, node=deps.node,
        silence=str(deps.prompts.silence(1)), end_recording=lambda channel: ami.receive_dtmf(channel, "#"),
        media_received=lambda channel: ami.rtp_received(channel), outbound=routing.outbound)
    router = routing.router

    async def seat_load() -> tuple[int, int]:
        snap = await router.snapshot()
        return sum(snap["waiting"].values()), int(snap["seats"].get("ready", 0))

    secret = os.environ.get(str(cfg.get("secret_env") or "HOTLINE_REVISIT_SECRET"), "")
    revisits = Revisits(RevisitStore(deps.records.db.pool), routing.outbound, ami, tickets.store, trees.calls,
                        handler, policy=RevisitPolicy.from_mapping(cfg.get("policy") or {}), secret=secret,
                        transcribe=tickets.describe.transcribe, publish=deps.publish, load=seat_load)
    if not secret:
        log.warning("revisit: no webhook secret (%s unset): the closed-ticket webhook answers 503",
                    cfg.get("secret_env") or "HOTLINE_REVISIT_SECRET")
    return Revisit(revisits=revisits, trees=source, handler=handler, agi={AGI_REVISIT: revisits.agi},
                   routes=[revisit_routes(revisits, editable)], ami=[(OriginateResponse, revisits.on_event)],
                   tasks=[("revisit", revisits.run)])
