"""CSRF defence for requests that change something (not GET/HEAD/OPTIONS).

Three layers: the session cookie is SameSite=Strict; every such request must
carry the session's CSRF token in the `X-CSRF-Token` header (a page gets the
token from POST /api/login or GET /api/me, never from a cookie); and the
Origin (or, failing that, Referer) header, when the browser sends one, must
be this site or one of the configured origins. Request bodies are JSON only,
which a cross-site HTML form cannot send.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from web.auth import same_token
from web.config import WebConfig
from web.errors import ApiError
from web.sessions import Session

HEADER = "X-CSRF-Token"


def own_origin(request: web.Request, config: WebConfig) -> str:
    scheme, host = request.scheme, request.host
    if config.trust_forwarded and (request.remote or "") in config.trusted_proxies:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    return f"{scheme}://{host}".lower()


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: web.Request, config: WebConfig) -> None:
    """Refuse a request whose Origin/Referer names another site.

    Clients that send neither (scripts, the CLI) pass here; they still need
    the CSRF token of a session, which only a same-site page can read.
    """
    origin = request.headers.get("Origin")
    if origin is None and "Referer" in request.headers:
        origin = _origin_of(request.headers["Referer"]) or "null"
    if origin is None:
        return
    allowed = {own_origin(request, config), *(o.rstrip("/").lower() for o in config.allowed_origins)}
    if origin.rstrip("/").lower() not in allowed:
        raise ApiError(403, "csrf_failed", "请求来源不被允许", {"reason": "origin", "origin": origin})


def check_token(request: web.Request, session: Session) -> None:
    token = request.headers.get(HEADER)
    if not token:
        raise ApiError(403, "csrf_failed", "缺少安全令牌，请刷新页面后重试", {"reason": "missing", "header": HEADER})
    if not same_token(token, session.csrf):
        raise ApiError(403, "csrf_failed", "安全令牌无效，请刷新页面后重试", {"reason": "mismatch", "header": HEADER})
