"""Leader-answering days (领导接听日) as a feature: sessions admins schedule (records database), the
announcement before the tree and the leader's seat first for the calls a session covers (the IVR
feature's handler and queue runner, wrapped here), the session's tickets tagged and reported.

Off (no routes, no tasks, the IVR untouched) without the records database."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from agents.leader import LeaderDays, LeaderQueueRunner
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Ivr
from hotline.features.routing import Routing
from hotline.features.tickets import Tickets
from web.routes_leader import leader_routes

log = logging.getLogger("hotline.features.leader")


@dataclass(kw_only=True)
class Leader(Feature):
    days: LeaderDays | None          # None: the feature is off


def load(deps: Deps, ivr: Ivr, routing: Routing, tickets: Tickets) -> Leader:
    if deps.records is None:
        log.info("leader-answering days: off (no records database)")
        return Leader(days=None)
    days = LeaderDays(deps.records.db.pool, routing.seats, tickets.store, ivr.calls, say=deps.say, redis=deps.redis,
                      prefix=routing.store.prefix, timezone=deps.settings.hotline.timezone)
    ivr.handler.intro = days.intro
    ivr.handler.queue = LeaderQueueRunner(ivr.handler.queue, days)
    router = routing.router
    return Leader(days=days, on_start=[days.refresh], tasks=[("leader-sessions", days.run)], closers=[days.close],
                  routes=[leader_routes(days, lambda: routing.config.seats.keys(), lambda: router.rules.lanes.keys())])
