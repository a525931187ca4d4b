"""The request pipeline: errors and metrics outside, access control inside.

errors_middleware  turns ApiError, the domain errors of the one error map
                   (web.error_map) and HTTP errors on /api/ into the JSON
                   error body, logs unexpected exceptions (500), counts and
                   times every request.
access_middleware  looks up the matched route's RouteSpec and enforces it:
                   Origin on changing requests and WebSocket handshakes, the
                   session, the CSRF token,
                   the minimum role, then the query and body schemas; writes
                   the route's audit entry on success. An /api/ route with no
                   metadata is refused (deny by default).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from web.access import SAFE_METHODS, Principal, RouteSpec, actor
from web.csrf import check_origin, check_token
from web.error_map import api_error
from web.errors import ApiError, error_response, forbidden, invalid, unauthenticated
from web.keys import ACCOUNTS, AUDIT, BODY, CONFIG, PRINCIPAL, QUERY, SESSIONS, SPEC, SPECS
from web.metrics import Metrics
from web.schema import check

log = logging.getLogger("web.http")

_HTTP_ERRORS = {
    400: ("bad_request", "请求格式错误"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("body_too_large", "请求内容过大"),
}

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def errors_middleware(metrics: Metrics) -> Any:
    """The outer middleware, counting into `metrics`."""
    requests = metrics.counter("hotline_http_requests_total", "HTTP requests by route and status",
                               ("method", "route", "status"))
    duration = metrics.histogram("hotline_http_request_duration_seconds", "HTTP request handling time",
                                 ("route",))

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400 or not is_api(request):
                    status = exc.status
                    raise
                error_id, message = _HTTP_ERRORS.get(exc.status, (f"http_{exc.status}", "请求失败"))
                response = error_response(exc.status, error_id, message)
            except Exception as exc:
                refusal = api_error(exc)
                if refusal is not None:
                    response = refusal.response()
                else:
                    log.exception("%s %s failed", request.method, request.path)
                    if not is_api(request):
                        raise
                    response = error_response(500, "internal", "服务器内部错误，请稍后重试")
            status = response.status
            return response
        finally:
            route = _route_label(request)
            requests.inc(method=request.method, route=route, status=status)
            duration.observe(time.perf_counter() - started, route=route)

    return middleware


def _route_label(request: web.Request) -> str:
    """The route template (bounded label values), never the raw path."""
    spec = request.get(SPEC)
    if spec is not None:
        return spec.path
    return "static" if request.path.startswith("/static/") else "unmatched"


@web.middleware
async def access_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    spec: RouteSpec | None = request.app[SPECS].get(request.match_info.route)
    if spec is None:
        if is_api(request) and request.match_info.http_exception is None:
            log.error("%s %s: route without metadata refused", request.method, request.path)
            raise forbidden({"reason": "route_without_metadata"})
        return await handler(request)
    request[SPEC] = spec
    config = request.app[CONFIG]
    changing = request.method not in SAFE_METHODS
    if changing or request.headers.get("Upgrade", "").lower() == "websocket":
        check_origin(request, config)   # WebSocket handshakes too (cross-site WebSocket hijacking)
    who = await _principal(request)
    if who is not None:
        request[PRINCIPAL] = who
    if spec.role is not None and who is None:
        if not spec.api:
            raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
        raise unauthenticated()
    if changing and spec.csrf and who is not None:
        check_token(request, who.session)
    if spec.role is not None and who is not None and who.user.role < spec.role:
        raise forbidden({"required_role": spec.role.id})
    request[QUERY] = _query(request, spec)
    if spec.request is not None:
        request[BODY] = await _body(request, spec)
    response = await handler(request)
    if spec.audit and response.status < 400:
        await request.app[AUDIT].record(actor(request), spec.audit, request.path, {"method": request.method})
    if config.validate_responses:
        _check_response(spec, response)
    return response


async def _principal(request: web.Request) -> Principal | None:
    sessions, accounts = request.app.get(SESSIONS), request.app.get(ACCOUNTS)
    token = request.cookies.get(request.app[CONFIG].cookie)
    if not token or sessions is None or accounts is None:
        return None
    session = await sessions.load(token)
    if session is None:
        return None
    user = await accounts.get(session.user_id)
    if user is None or user.disabled:
        await sessions.destroy(session)
        return None
    return Principal(user=user, session=session)


def _query(request: web.Request, spec: RouteSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for name, schema in spec.query.items():
        raw = request.query.get(name)
        if raw is None:
            if "default" in schema:
                out[name] = schema["default"]
            continue
        value = _convert(raw, schema.get("type", "string"))
        if value is None:
            problems.append({"path": name, "message": "格式不正确"})
            continue
        problems.extend(check(value, schema, name))
        out[name] = value
    if problems:
        raise invalid(problems)
    return out


def _convert(raw: str, typ: str) -> Any:
    try:
        if typ == "integer":
            return int(raw)
        if typ == "number":
            return float(raw)
    except ValueError:
        return None
    if typ == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
    return raw


async def _body(request: web.Request, spec: RouteSpec) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "请求内容须为 JSON",
                       {"content_type": request.content_type})
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "invalid_json", "请求内容不是有效的 JSON") from None
    assert spec.request is not None
    problems = check(data, spec.request)
    if problems:
        raise invalid(problems)
    return data


def _check_response(spec: RouteSpec, response: web.StreamResponse) -> None:
    """Development/test check: the success response is what the route declares."""
    if response.status >= 400 or not isinstance(response, web.Response):
        return
    problems: list[dict[str, str]] = []
    if response.status != spec.status:
        problems.append({"path": "$status", "message": f"{response.status} != declared {spec.status}"})
    if spec.response is not None and response.content_type == "application/json":
        problems.extend(check(json.loads(response.text or "null"), spec.response))
    if problems:
        log.error("%s %s: response does not match its schema: %s", spec.method, spec.path, problems)
        raise ApiError(500, "response_invalid", "服务器内部错误", {"problems": problems})


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: headers every response gets."""
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Content-Security-Policy", CSP)
    if is_api(request):
        h.setdefault("Cache-Control", "no-store")
    if request.app[CONFIG].cookie_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
