"""The IVR: the published trees and their prompts, the call records, and the
call handler (the "ivr" AGI script) that walks a caller through the tree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.delivery import RoutedQueueRunner
from agents.fallback_queue import FallbackQueueRunner
from hotline.features.base import Deps, Feature, data_dir
from ivr.calls import CallRecords
from ivr.handler import IvrCallHandler
from ivr.trees import Pinned, TreeSource
from ivr.versions import VersionStore
from pbx.contract import AGI_IVR
from recordings.prompts import PromptResolver
from web.ivr_trees import CALLS, CALLS_LABEL, TreeRegistry
from web.routes_admin_ivr import admin_ivr_routes

if TYPE_CHECKING:        # (they are loaded after the trees, which they read)
    from hotline.features.callbacks import Callbacks
    from hotline.features.recordings import Recordings
    from hotline.features.routing import Routing
    from hotline.features.tickets import Tickets
    from hotline.features.transfers import Transfers


@dataclass(kw_only=True)
class Trees:
    """The first part, which every other feature reads: the trees and the call records."""

    versions: VersionStore
    prompts: PromptResolver
    trees: TreeSource
    pinned: Pinned               # the tree current at start (its lanes seed the routing)
    calls: CallRecords
    editable: TreeRegistry       # the trees of the admin's editor: this one as "calls"; other features add theirs


async def load_trees(deps: Deps) -> Trees:
    s, base_dir = deps.settings, deps.config_dir
    versions = VersionStore(deps.redis, TreeSource.validator(base_dir), name=s.hotline.name)
    resolver = PromptResolver(deps.prompts, base_dir, uploads_dir=data_dir(s) / "prompts")
    trees = TreeSource(versions, base_dir, prewarm=resolver.prewarm)
    await trees.ensure_published(s.path(s.ivr.tree))
    pinned = await trees.current()        # parse and synthesise the prompts before calls arrive
    records = deps.records
    calls = CallRecords(deps.redis, sink=records.writer.call if records else None)
    editable = TreeRegistry()
    editable.add(CALLS, CALLS_LABEL, versions, audit="ivr")
    return Trees(versions=versions, prompts=resolver, trees=trees, pinned=pinned, calls=calls, editable=editable)


@dataclass(kw_only=True)
class Ivr(Feature, Trees):
    handler: IvrCallHandler
    queue: RoutedQueueRunner


def load(deps: Deps, trees: Trees, routing: Routing, callbacks: Callbacks, transfers: Transfers,
         tickets: Tickets, recordings: Recordings) -> Ivr:
    s = deps.settings
    queue = RoutedQueueRunner(routing.router, callbacks.dispatcher, routing.delivery, deps.say, trees.calls,
                              FallbackQueueRunner(s.fallback.queue_timeout_s), publish=deps.publish,
                              transfers=transfers.service, outbound=routing.outbound)
    ami = deps.ami
    handler = IvrCallHandler(
        trees.trees, trees.prompts, trees.calls, queue, recordings_dir=s.recordings_dir, keeper=recordings.keeper,
        node=deps.node, transfer_dial=s.transfer.dial, silence=str(deps.prompts.silence(1)), sink=tickets.describe,
        end_recording=lambda channel: ami.receive_dtmf(channel, "#"),
        media_received=lambda channel: ami.rtp_received(channel), outbound=routing.outbound)
    return Ivr(versions=trees.versions, prompts=trees.prompts, trees=trees.trees, pinned=trees.pinned,
               calls=trees.calls, editable=trees.editable, handler=handler, queue=queue, agi={AGI_IVR: handler},
               routes=[admin_ivr_routes(trees.versions, deps.config_dir, trees.prompts, trees=trees.editable)])
