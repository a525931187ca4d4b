"""Typed keys for the application's and the request's state (no globals)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web

if TYPE_CHECKING:
    from web.access import Principal, RouteSpec
    from web.accounts import Accounts
    from web.audit import AuditLog
    from web.config import WebConfig
    from web.metrics import Metrics
    from web.ratelimit import LoginLimiter
    from web.sessions import SessionStore

# The application's collaborators and services
STATUS = web.AppKey("status", Callable[[], dict[str, Any]])
CONFIG: web.AppKey[WebConfig] = web.AppKey("config")
CLOCK = web.AppKey("clock", Callable[[], float])
REDIS = web.AppKey("redis", aioredis.Redis)
ACCOUNTS: web.AppKey[Accounts] = web.AppKey("accounts")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
LIMITER: web.AppKey[LoginLimiter] = web.AppKey("limiter")
AUDIT: web.AppKey[AuditLog] = web.AppKey("audit")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Every registered route's metadata, by aiohttp route object
SPECS: web.AppKey[dict[web.AbstractRoute, RouteSpec]] = web.AppKey("specs")

# Per request, filled by the access middleware
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
BODY: web.RequestKey[Any] = web.RequestKey("body")
QUERY: web.RequestKey[dict[str, Any]] = web.RequestKey("query")
SPEC: web.RequestKey[RouteSpec] = web.RequestKey("spec")
