"""The aiohttp application factory.

    app = create_app(status, redis=client, config=WebConfig(...), routes=[tickets_routes])

Collaborators come in as arguments: the status callable (for /healthz), a
Redis client (borrowed: the caller closes it) or a Redis URL (owned: opened
and closed in a cleanup context here), the WebConfig, the clock, the metrics
registry and further RouteTables, or RouteBundles (a table with the services
its handlers read and cleanup contexts), from other modules. Without any Redis the
app still serves /healthz, /metrics and the pages, and login answers 503.

A borrowed Redis client must be created with decode_responses=True.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from kernel.redis import redis_client
from web import routes_admin_users, routes_auth, routes_operators, routes_pages, routes_system
from web.access import RouteBundle, RouteTable
from web.accounts import Accounts
from web.audit import AuditLog
from web.config import WebConfig
from web.keys import ACCOUNTS, AUDIT, CLOCK, CONFIG, LIMITER, METRICS, REDIS, SESSIONS, SPECS, STATUS
from web.metrics import Metrics
from web.middleware import access_middleware, errors_middleware, security_headers
from web.ratelimit import Limits, LoginLimiter
from web.sessions import SessionStore

__all__ = ["STATUS", "create_app", "register"]

BUILTIN_ROUTES = (routes_system.routes, routes_auth.routes, routes_admin_users.routes,
                  routes_operators.routes, routes_pages.routes)


def create_app(status: Callable[[], dict[str, Any]], *, redis: aioredis.Redis | None = None,
               redis_url: str | None = None, config: WebConfig | None = None,
               clock: Callable[[], float] = time.time, metrics: Metrics | None = None,
               routes: Iterable[RouteTable | RouteBundle] = (),
               audit_sink: Callable[[str, Mapping[str, Any]], None] | None = None) -> web.Application:
    config = config or WebConfig()
    metrics = metrics or Metrics()
    app = web.Application(middlewares=[errors_middleware(metrics), access_middleware],
                          client_max_size=config.max_body_bytes)
    app[STATUS] = status
    app[CONFIG] = config
    app[CLOCK] = clock
    app[METRICS] = metrics
    app[SPECS] = {}
    bundles = []
    for table in (*BUILTIN_ROUTES, *routes):
        register(app, table)
        if isinstance(table, RouteBundle):
            bundles.append(table)
    app.router.add_static("/static/", routes_pages.STATIC_DIR, follow_symlinks=False)
    app.on_response_prepare.append(security_headers)
    metrics.callback("hotline_component_up", "1 when a component reports ok", labels=("component",),
                     fn=lambda: {(name, ): 1.0 if v.get("ok") else 0.0
                                 for name, v in status().items() if isinstance(v, dict)})
    if redis is not None or redis_url:
        app.cleanup_ctx.append(_services(redis, redis_url, audit_sink))
    for bundle in bundles:              # after the web services: a bundle's contexts may use them
        install(app, bundle)
    return app


def install(app: web.Application, bundle: RouteBundle) -> None:
    """A bundle's services under their keys, its cleanup contexts on the app (after the web
    services' own context). Two bundles may share a service (the same object); two different
    objects under one key are refused."""
    for key, service in bundle.services.items():
        if key in app and app[key] is not service:
            raise ValueError(f"{key!r}: two different services for one key")
        app[key] = service
    app.cleanup_ctx.extend(bundle.contexts)


def register(app: web.Application, table: RouteTable | RouteBundle) -> None:
    """Add a table's routes to the router, keeping each route's metadata."""
    taken = {s.operation_id for s in app[SPECS].values()}
    for spec in table:
        if spec.operation_id in taken:
            raise ValueError(f"{spec.method} {spec.path}: handler name {spec.operation_id!r} is already "
                             "used by another route (it is the OpenAPI operationId)")
        taken.add(spec.operation_id)
        route = app.router.add_route(spec.method, spec.path, spec.handler)
        app[SPECS][route] = spec


def _services(borrowed: aioredis.Redis | None, url: str | None,
              audit_sink: Callable[[str, Mapping[str, Any]], None] | None = None,
              ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        owned = None if borrowed is not None or url is None else redis_client(url)
        redis = borrowed if borrowed is not None else owned
        assert redis is not None
        try:
            config, clock = app[CONFIG], app[CLOCK]
            app[REDIS] = redis
            app[ACCOUNTS] = Accounts(redis, config.hasher, clock, min_password_len=config.min_password_len)
            app[SESSIONS] = SessionStore(redis, clock, config.session_idle_s, config.session_absolute_s)
            app[LIMITER] = LoginLimiter(redis, clock, Limits(
                window_s=config.login_window_s, user_max=config.login_user_max, ip_max=config.login_ip_max,
                base_s=config.lockout_base_s, max_s=config.lockout_max_s))
            app[AUDIT] = AuditLog(redis, clock, maxlen=config.audit_maxlen, sink=audit_sink)
            yield
        finally:
            if owned is not None:
                await owned.aclose()
    return ctx
