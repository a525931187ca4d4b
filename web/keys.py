"""Typed keys for the application's and the request's state (no globals).

The web app's own services are set by `web.app.create_app`; the domain
services come in the bundles the route factories return
(`web.access.RouteBundle`), which create_app installs under these keys.
Handlers are module-level functions reading them as `request.app[KEY]`.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web

if TYPE_CHECKING:
    import asyncpg

    from agents.config_files import AgentFiles
    from agents.node_actions import NodeActions
    from agents.outbound import Outbound
    from agents.service import Router, SeatService
    from agents.store import RoutingStore
    from agents.transfer_service import TransferService
    from ivr.calls import CallRecords
    from ivr.config_files import IvrFiles
    from pbx.ami import AMIClient
    from tickets.store import TicketStore
    from web.access import Principal, RouteSpec
    from web.accounts import Accounts
    from web.audit import AuditLog
    from web.config import WebConfig
    from web.live import LiveHub, LiveSettings
    from web.metrics import Metrics
    from web.ratelimit import LoginLimiter
    from web.routes_admin_ivr import IvrAdmin
    from web.routes_knowledge import Knowledge
    from web.routes_notices import Source
    from web.routes_reports import ReportSource
    from web.routes_vendor import Vendor
    from web.routes_wallboard import WallboardSource
    from web.sessions import SessionStore

# The application's collaborators and services
STATUS: web.AppKey[Callable[[], dict[str, Any]]] = web.AppKey("status")
CONFIG: web.AppKey[WebConfig] = web.AppKey("config")
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
REDIS = web.AppKey("redis", aioredis.Redis)
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
LIMITER: web.AppKey[LoginLimiter] = web.AppKey("limiter")
AUDIT: web.AppKey[AuditLog] = web.AppKey("audit")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Every registered route's metadata, by aiohttp route object
SPECS: web.AppKey[dict[web.AbstractRoute, RouteSpec]] = web.AppKey("specs")

# The domain services, installed from the route bundles
SEATS: web.AppKey[SeatService] = web.AppKey("seats")
ROUTER: web.AppKey[Router] = web.AppKey("router")
TICKETS: web.AppKey[TicketStore] = web.AppKey("tickets")
CALLS: web.AppKey[CallRecords] = web.AppKey("calls")
ROUTING_STORE: web.AppKey[RoutingStore] = web.AppKey("routing_store")
TRANSFERS: web.AppKey[TransferService] = web.AppKey("transfers")
NODE_ACTIONS: web.AppKey[NodeActions] = web.AppKey("node_actions")
AMI: web.AppKey[Callable[[], AMIClient | None]] = web.AppKey("ami")
DEMO_SEATS: web.AppKey[Collection[str]] = web.AppKey("demo_seats")
OUTBOUND: web.AppKey[Outbound | None] = web.AppKey("outbound")     # calls out: the dialling policy
RECORDS_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("records_pool")
NOTICES: web.AppKey[Source] = web.AppKey("notices")
KNOWLEDGE: web.AppKey[Knowledge] = web.AppKey("knowledge")
# The web side of a feature, when it keeps more than the domain service
WALLBOARD: web.AppKey[WallboardSource] = web.AppKey("wallboard")
REPORTS: web.AppKey[ReportSource] = web.AppKey("reports")
IVR_ADMIN: web.AppKey[IvrAdmin] = web.AppKey("ivr_admin")
AGENT_FILES: web.AppKey[AgentFiles] = web.AppKey("agent_files")
IVR_FILES: web.AppKey[IvrFiles] = web.AppKey("ivr_files")
VENDOR: web.AppKey[Vendor] = web.AppKey("vendor")
LIVE_SETTINGS: web.AppKey[LiveSettings] = web.AppKey("live_settings")
LIVE: web.AppKey[LiveHub] = web.AppKey("live")

# Per request, filled by the access middleware
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
BODY: web.RequestKey[Any] = web.RequestKey("body")
QUERY: web.RequestKey[dict[str, Any]] = web.RequestKey("query")
SPEC: web.RequestKey[RouteSpec] = web.RequestKey("spec")
