"""Admin-only user management and the audit trail reader.

Every change is written to the audit trail with the fields changed (never a
password). Disabling a user or resetting their password ends their sessions.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from web.access import RouteTable, actor, body, json_ok, query
from web.accounts import ROLE_IDS, USER_SCHEMA, Role
from web.audit import ENTRY_SCHEMA
from web.errors import invalid, not_found
from web.keys import ACCOUNTS, AUDIT, SESSIONS

routes = RouteTable(tag="admin")

_LINK = {"type": ["string", "null"], "maxLength": 32}
CREATE_SCHEMA = {
    "type": "object", "required": ["username", "password", "role"], "additionalProperties": False,
    "properties": {
        "username": {"type": "string", "minLength": 2, "maxLength": 32},
        "password": {"type": "string", "maxLength": 256},
        "role": {"type": "string", "enum": ROLE_IDS},
        "display_name": {"type": "string", "minLength": 1, "maxLength": 40},
        "operator_id": _LINK, "seat": _LINK,
    },
}
UPDATE_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "display_name": {"type": "string", "minLength": 1, "maxLength": 40},
        "role": {"type": "string", "enum": ROLE_IDS},
        "operator_id": _LINK, "seat": _LINK, "disabled": {"type": "boolean"},
    },
}
RESET_SCHEMA = {"type": "object", "required": ["password"], "additionalProperties": False,
                "properties": {"password": {"type": "string", "maxLength": 256}}}
USERS_SCHEMA = {"type": "object", "required": ["users"],
                "properties": {"users": {"type": "array", "items": USER_SCHEMA}}}
AUDIT_PAGE_SCHEMA = {"type": "object", "required": ["entries", "next_before"],
                     "properties": {"entries": {"type": "array", "items": ENTRY_SCHEMA},
                                    "next_before": {"type": ["string", "null"]}}}


@routes.get("/api/admin/users", summary="用户列表", role=Role.ADMIN, response=USERS_SCHEMA)
async def list_users(request: web.Request) -> web.Response:
    users = await request.app[ACCOUNTS].list()
    return json_ok({"users": [u.to_dict() for u in users]})


@routes.post("/api/admin/users", summary="新建用户", role=Role.ADMIN, status=201, request=CREATE_SCHEMA,
             response=USER_SCHEMA, errors=(409,))
async def create_user(request: web.Request) -> web.Response:
    data = body(request)
    user = await request.app[ACCOUNTS].create(
        data["username"], data["password"], Role.parse(data["role"]), data.get("display_name"),
        operator_id=data.get("operator_id"), seat=data.get("seat"))
    await request.app[AUDIT].record(actor(request), "user.create", f"user:{user.id}",
                                    {"username": user.username, "role": user.role.id,
                                     "operator_id": user.operator_id, "seat": user.seat})
    return json_ok(user.to_dict(), status=201)


@routes.get("/api/admin/users/{id}", summary="查看用户", role=Role.ADMIN, response=USER_SCHEMA, errors=(404,))
async def get_user(request: web.Request) -> web.Response:
    user = await request.app[ACCOUNTS].get(request.match_info["id"])
    if user is None:
        raise not_found("user", {"id": request.match_info["id"]})
    return json_ok(user.to_dict())


@routes.patch("/api/admin/users/{id}", summary="修改用户（姓名、角色、话务员工号、坐席、停用）", role=Role.ADMIN,
              request=UPDATE_SCHEMA, response=USER_SCHEMA, errors=(404, 409))
async def update_user(request: web.Request) -> web.Response:
    user_id, data = request.match_info["id"], body(request)
    accounts = request.app[ACCOUNTS]
    before = await accounts.require(user_id)
    after = await accounts.update(
        user_id, display_name=data.get("display_name"),
        role=Role.parse(data["role"]) if "role" in data else None,
        operator_id=data["operator_id"] if "operator_id" in data else ...,
        seat=data["seat"] if "seat" in data else ..., disabled=data.get("disabled"))
    changed: dict[str, Any] = {k: {"from": v, "to": after.to_dict()[k]} for k, v in before.to_dict().items()
                               if k != "updated_at" and after.to_dict()[k] != v}
    if after.disabled:
        changed["sessions_ended"] = await request.app[SESSIONS].revoke_user(user_id)
    await request.app[AUDIT].record(actor(request), "user.update", f"user:{user_id}", changed)
    return json_ok(after.to_dict())


@routes.post("/api/admin/users/{id}/password", summary="重置用户密码（该用户的会话全部退出）", role=Role.ADMIN,
             status=204, request=RESET_SCHEMA, errors=(404,))
async def reset_password(request: web.Request) -> web.Response:
    user_id = request.match_info["id"]
    await request.app[ACCOUNTS].set_password(user_id, body(request)["password"])
    ended = await request.app[SESSIONS].revoke_user(user_id)
    await request.app[AUDIT].record(actor(request), "user.password_reset", f"user:{user_id}",
                                    {"sessions_ended": ended})
    return web.Response(status=204)


@routes.get("/api/admin/audit", summary="审计日志（新的在前，分页）", role=Role.ADMIN, response=AUDIT_PAGE_SCHEMA,
            query={"count": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                   "before": {"type": "string", "pattern": r"^\d+-\d+$"}})
async def audit_log(request: web.Request) -> web.Response:
    q = query(request)
    before = q.get("before")
    if before is not None and not _stream_id(before):
        raise invalid([{"path": "before", "message": "不是有效的日志编号"}])
    entries = await request.app[AUDIT].entries(count=q["count"], before=before)
    last = entries[-1].id if len(entries) == q["count"] else None
    return json_ok({"entries": [e.to_dict() for e in entries], "next_before": last})


def _stream_id(text: str) -> bool:
    """A Redis stream id that something can be older than: ASCII digits, 64-bit parts, not 0-0."""
    ms, _, seq = text.partition("-")
    if not (ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
        return False
    return int(ms) < 2 ** 64 and int(seq) < 2 ** 64 and (int(ms), int(seq)) != (0, 0)
