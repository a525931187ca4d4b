"""The web pages and APIs over the other features' services: the operator's
console, the wallboard and its live feed, supervision, reports, the admin's
config files. (Routes owned by a feature come with that feature.)"""
from __future__ import annotations

from dataclasses import dataclass

from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing
from hotline.features.tickets import Tickets
from web.live import LiveRoutes, live_routes
from web.routes_admin_config import admin_config_routes
from web.routes_console import console_routes
from web.routes_reports import reports_routes
from web.routes_supervise import supervise_handler, supervise_routes
from web.routes_vendor import vendor_routes
from web.routes_wallboard import wallboard_routes


@dataclass(kw_only=True)
class Web(Feature):
    live: LiveRoutes


def load(deps: Deps, trees: Trees, routing: Routing, tickets: Tickets) -> Web:
    s, base_dir, redis, ami = deps.settings, deps.config_dir, deps.redis, deps.ami
    router, records = routing.router, deps.records
    live = live_routes(redis, router=router)
    figures = None
    if records is not None:                  # the reports' figures from SQL when the records are on
        from records.reports import SqlReportFigures

        figures = SqlReportFigures(records.db.pool)
    # the spy is placed by the node holding the call, whichever node's web the supervisor reached
    routing.actions.register("supervise", supervise_handler(lambda: ami, routing.demo, routing.outbound))
    return Web(live=live, routes=[
        console_routes(routing.seats, router, tickets.store, trees.calls),
        wallboard_routes(router, redis, tickets=tickets.store), live, vendor_routes(),
        supervise_routes(routing.store, routing.actions, routing.outbound),
        reports_routes(router, tickets.store, redis, figures),
        admin_config_routes(trees.versions, base_dir, s.path(s.agents.seats), base_dir / "transfers.yaml")])
