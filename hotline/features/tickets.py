"""Tickets: the work orders, and the describe step that turns a caller's
recorded description into a draft ticket (transcribed when speech is on)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing
from hotline.settings import Settings
from recordings.describe import DescribeToTicket
from recordings.stt.pool import STTPool
from tickets.handoff import HandoffWorker
from tickets.handoff_config import load_handoff_config
from tickets.store import TicketStore

Keep = Callable[[str, Path], Awaitable[Path | None]]      # (call id, WAV) -> the kept file


@dataclass(kw_only=True)
class Tickets(Feature):
    store: TicketStore
    describe: DescribeToTicket
    handoff: HandoffWorker


def handoff_worker(s: Settings, redis: aioredis.Redis, node: str, store: TicketStore) -> HandoffWorker:
    """The hand-off worker: confirmed tickets from the outbox to the city's work-order system, each
    outcome handed to the records (the ticket store's sink). The consumer is this controller's node
    id, so after a restart it first finishes its own claims. A broken hand-off file stops the start;
    no url: the worker logs that it is off and ends."""
    return HandoffWorker(redis, load_handoff_config(s.path(s.tickets.handoff)), consumer=f"handoff-{node}",
                         on_finished=store.record)


def load(deps: Deps, trees: Trees, pool: STTPool | None, keep: Keep | None = None,
         routing: Routing | None = None) -> Tickets:
    """keep: the caller's account kept (compressed) once speech-to-text has read it; routing: its
    watch on Redis (lost data, a failover) has each day's ticket counter checked against the records."""
    s, records = deps.settings, deps.records
    store = TicketStore(deps.redis, sink=records.writer.ticket if records else None,
                        seq_floor=records.ticket_seq_floor if records else None,
                        recall=records.ticket_doc if records else None)
    describe = DescribeToTicket(store, trees.calls, pool, publish=deps.publish, keep=keep)
    if routing is not None:
        routing.redis_lost.rebuild.append(store.counters_suspect)
    handoff = handoff_worker(s, deps.redis, deps.node, store)
    return Tickets(store=store, describe=describe, handoff=handoff, closers=[describe.close],
                   tasks=[("ticket-handoff", handoff.run)])
