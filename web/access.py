"""Route metadata and role checks: declared next to the handler, used twice.

A module declares its routes in a `RouteTable`; each route says who may call
it (a minimum role, or None for anyone), its request/response schemas and a
summary. The access middleware (web.middleware) enforces the role, CSRF and
the request schema from this metadata, and web.openapi documents the same
metadata, so the OpenAPI document cannot drift from what is enforced.

    routes = RouteTable(tag="tickets")

    @routes.get("/api/tickets/{id}", summary="读取工单", role=Role.OPERATOR,
                response=TICKET_SCHEMA, audit="ticket.read", errors=(404,))
    async def get_ticket(request: web.Request) -> web.Response:
        ticket = ...
        own_operator_only(request, ticket.operator_id)   # operators: their own only
        return json_ok(ticket.to_dict())

Roles are ordered: operator < supervisor < admin.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from web.accounts import Role, User
from web.audit import Actor
from web.errors import forbidden, unauthenticated
from web.keys import BODY, CONFIG, PRINCIPAL, QUERY
from web.sessions import Session

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    role: Role | None                       # minimum role; None: anyone, even not logged in
    request: dict[str, Any] | None = None   # JSON body schema (enforced)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # query parameter schemas (enforced)
    response: dict[str, Any] | None = None  # success body schema (documented; checked in tests)
    status: int = 200                       # success status
    content_type: str = "application/json"  # success content type
    tags: tuple[str, ...] = ()
    csrf: bool = True                       # False only where no session exists yet (login)
    audit: str | None = None                # audit action written on each success
    errors: tuple[int, ...] = ()            # further documented error statuses (404, 409, ...)
    api: bool = True                        # False: an HTML page (not in the OpenAPI document)
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class RouteTable:
    """Routes declared by one module; `web.app.create_app` registers them."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self._specs: list[RouteSpec] = []

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self._specs)

    def route(self, method: str, path: str, *, summary: str, role: Role | None,
              **meta: Any) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            tags = meta.pop("tags", (self.tag,) if self.tag else ())
            self._specs.append(RouteSpec(method=method.upper(), path=path, handler=handler,
                                         summary=summary, role=role, tags=tuple(tags), **meta))
            return handler
        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)


@dataclass(frozen=True)
class RouteBundle:
    """What a route factory returns: a module's route table (module-level handlers), the services
    they read (`{AppKey: service}`) and cleanup contexts; `web.app.create_app` installs all three.

        def console_routes(seats, router, tickets, calls) -> RouteBundle:
            return RouteBundle(routes, {SEATS: seats, ROUTER: router, TICKETS: tickets, CALLS: calls})
    """

    routes: RouteTable
    services: Mapping[web.AppKey[Any], Any] = field(default_factory=dict)
    contexts: tuple[CleanupContext, ...] = ()

    def __iter__(self) -> Iterator[RouteSpec]:
        return iter(self.routes)


@dataclass(frozen=True)
class Principal:
    """The logged-in user of a request and their session."""

    user: User
    session: Session


# -- helpers for handlers ---------------------------------------------------
def principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def current_user(request: web.Request) -> User:
    p = request.get(PRINCIPAL)
    if p is None:
        raise unauthenticated()
    return p.user


def own_operator_only(request: web.Request, operator_id: str | None) -> User:
    """Operators may only reach data of their own operator id; supervisors and admins any."""
    user = current_user(request)
    if user.role is Role.OPERATOR and (operator_id is None or operator_id != user.operator_id):
        raise forbidden({"reason": "own_data_only"})
    return user


def client_ip(request: web.Request) -> str:
    """The client's address; behind a trusted proxy (`trust_forwarded`, and the connection comes
    from one of `trusted_proxies`), the last X-Forwarded-For hop: the one that proxy added."""
    config = request.app[CONFIG]
    if config.trust_forwarded and (request.remote or "") in config.trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or ""


def actor(request: web.Request) -> Actor:
    p = request.get(PRINCIPAL)
    if p is None:
        return Actor(who="", role="", ip=client_ip(request))
    return Actor(who=p.user.username, role=p.user.role.id, ip=client_ip(request))


def body(request: web.Request) -> Any:
    """The request's JSON body, already checked against the route's schema."""
    return request.get(BODY)


def query(request: web.Request) -> dict[str, Any]:
    """The query parameters declared by the route, converted and checked."""
    return request.get(QUERY, {})


def json_ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))
