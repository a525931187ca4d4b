"""Logging in and out, and the logged-in user's own account."""
from __future__ import annotations

import math

from aiohttp import web

from web.access import Principal, RouteTable, actor, body, client_ip, json_ok, principal
from web.accounts import ROLE_LABELS, USER_SCHEMA, AccountError, Role, User
from web.audit import Actor
from web.errors import ApiError
from web.keys import ACCOUNTS, AUDIT, CONFIG, LIMITER, METRICS, SESSIONS
from web.ratelimit import DEVICE_TTL_S
from web.sessions import Session

routes = RouteTable(tag="auth")

SESSION_SCHEMA = {
    "type": "object",
    "required": ["user", "csrf_token", "expires_at", "role_label"],
    "properties": {"user": USER_SCHEMA, "csrf_token": {"type": "string"}, "expires_at": {"type": "number"},
                   "role_label": {"type": "string"}},
}
LOGIN_SCHEMA = {
    "type": "object", "required": ["username", "password"], "additionalProperties": False,
    "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 64},
                   "password": {"type": "string", "minLength": 1, "maxLength": 256}},
}
PASSWORD_SCHEMA = {
    "type": "object", "required": ["old_password", "new_password"], "additionalProperties": False,
    "properties": {"old_password": {"type": "string", "maxLength": 256},
                   "new_password": {"type": "string", "maxLength": 256}},
}


def _session_view(user: User, session: Session) -> dict:
    return {"user": user.to_dict(), "csrf_token": session.csrf, "expires_at": session.expires_at,
            "role_label": ROLE_LABELS[user.role]}


def _locked(seconds: float) -> ApiError:
    wait = max(1, math.ceil(seconds))
    return ApiError(429, "login_locked", f"登录失败次数过多，请 {wait} 秒后再试",
                    {"retry_after_s": wait}, headers={"Retry-After": str(wait)})


@routes.post("/api/login", summary="登录（成功后设置会话 Cookie 并返回 CSRF 令牌）", role=None, csrf=False,
             request=LOGIN_SCHEMA, response=SESSION_SCHEMA, errors=(401, 429, 503))
async def login(request: web.Request) -> web.Response:
    app = request.app
    if ACCOUNTS not in app:
        raise ApiError(503, "unavailable", "账号服务暂不可用")
    data = body(request)
    username, ip = data["username"].strip().lower()[:64], client_ip(request)
    logins = app[METRICS].counter("hotline_web_logins_total", "Login attempts by result", ("result",))
    attempt = Actor(who=username, role="", ip=ip)

    limiter = app[LIMITER]
    config = app[CONFIG]
    device = await limiter.device(request.cookies.get(config.device_cookie), username)
    wait = await limiter.retry_after(username, ip, device)
    if wait > 0:
        # refused before the password is looked at; counted, but not audited one by one (a
        # guessing script would flood the audit trail): the back-off itself was audited
        logins.inc(result="locked")
        raise _locked(wait)
    try:
        user = await app[ACCOUNTS].authenticate(username, data["password"])
    except AccountError as exc:
        logins.inc(result="refused")
        await app[AUDIT].record(attempt, "login.refused", f"user:{username}", {"reason": exc.error_id})
        raise
    if user is None:
        lockout = await limiter.failed(username, ip, device)
        logins.inc(result="failed")
        await app[AUDIT].record(attempt, "login.failed", f"user:{username}", {"lockout_s": lockout})
        if lockout > 0:
            await app[AUDIT].record(attempt, "login.locked", f"user:{username}",
                                    {"retry_after_s": math.ceil(lockout), "device": device is not None})
            raise _locked(lockout)
        raise ApiError(401, "bad_credentials", "用户名或密码错误")

    await limiter.succeeded(username, device)
    if device is None:
        device_token = await limiter.new_device(username)
    else:
        device_token = None
        await limiter.renew_device(device)
    old = principal(request)
    if old is not None:
        await app[SESSIONS].destroy(old.session)   # a fresh id at every login (no fixation)
    session = await app[SESSIONS].create(user.id, ip)
    logins.inc(result="ok")
    await app[AUDIT].record(Actor(who=user.username, role=user.role.id, ip=ip), "login.ok", f"user:{user.id}")
    response = json_ok(_session_view(user, session))
    response.set_cookie(config.cookie, session.token, path="/", httponly=True, samesite="Strict",
                        secure=config.cookie_secure, max_age=math.ceil(config.session_absolute_s))
    if device_token is not None:
        response.set_cookie(config.device_cookie, device_token, path="/", httponly=True, samesite="Strict",
                            secure=config.cookie_secure, max_age=DEVICE_TTL_S)
    return response


@routes.post("/api/logout", summary="退出登录", role=Role.OPERATOR, status=204)
async def logout(request: web.Request) -> web.Response:
    who: Principal = principal(request)  # type: ignore[assignment]
    await request.app[SESSIONS].destroy(who.session)
    await request.app[AUDIT].record(actor(request), "logout", f"user:{who.user.id}")
    response = web.Response(status=204)
    config = request.app[CONFIG]
    response.del_cookie(config.cookie, path="/", secure=config.cookie_secure, httponly=True, samesite="Strict")
    return response


@routes.get("/api/me", summary="当前用户、会话到期时间与 CSRF 令牌", role=Role.OPERATOR, response=SESSION_SCHEMA)
async def me(request: web.Request) -> web.Response:
    who: Principal = principal(request)  # type: ignore[assignment]
    return json_ok(_session_view(who.user, who.session))


@routes.post("/api/me/password", summary="修改本人密码（其他会话随之退出）", role=Role.OPERATOR, status=204,
             request=PASSWORD_SCHEMA)
async def change_password(request: web.Request) -> web.Response:
    who: Principal = principal(request)  # type: ignore[assignment]
    data = body(request)
    await request.app[ACCOUNTS].change_own_password(who.user.id, data["old_password"], data["new_password"])
    ended = await request.app[SESSIONS].revoke_user(who.user.id, keep=who.session)
    await request.app[AUDIT].record(actor(request), "password.change", f"user:{who.user.id}",
                                    {"sessions_ended": ended})
    return web.Response(status=204)
