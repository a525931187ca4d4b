"""Operators as the floor sees them: supervisors list them all, an operator
sees only their own record (enforced here, not by hiding it in the page)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from web.access import RouteTable, json_ok, own_operator_only
from web.accounts import Role, User
from web.errors import not_found
from web.keys import ACCOUNTS

routes = RouteTable(tag="operators")

OPERATOR_SCHEMA = {
    "type": "object", "required": ["user_id", "operator_id", "display_name", "seat", "disabled"],
    "properties": {"user_id": {"type": "string"}, "operator_id": {"type": "string"},
                   "display_name": {"type": "string"}, "seat": {"type": ["string", "null"]},
                   "disabled": {"type": "boolean"}},
}


def _view(user: User) -> dict[str, Any]:
    return {"user_id": user.id, "operator_id": user.operator_id, "display_name": user.display_name,
            "seat": user.seat, "disabled": user.disabled}


@routes.get("/api/operators", summary="话务员名单", role=Role.SUPERVISOR,
            response={"type": "object", "required": ["operators"],
                      "properties": {"operators": {"type": "array", "items": OPERATOR_SCHEMA}}})
async def list_operators(request: web.Request) -> web.Response:
    users = await request.app[ACCOUNTS].list()
    return json_ok({"operators": [_view(u) for u in users if u.role is Role.OPERATOR]})


@routes.get("/api/operators/{operator_id}", summary="话务员信息（话务员只能查看本人）", role=Role.OPERATOR,
            response=OPERATOR_SCHEMA, errors=(404,))
async def get_operator(request: web.Request) -> web.Response:
    operator_id = request.match_info["operator_id"]
    own_operator_only(request, operator_id)
    for user in await request.app[ACCOUNTS].list():
        if user.role is Role.OPERATOR and user.operator_id == operator_id:
            return json_ok(_view(user))
    raise not_found("operator", {"operator_id": operator_id})
