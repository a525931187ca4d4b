"""The OpenAPI 3.1 document, built from the registered routes' metadata.

Nothing is written twice: paths, roles (as `x-roles` and the security
requirement), parameters, request and response schemas all come from the
RouteSpec each route declared next to its handler, which is also what the
access middleware enforces.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from web.access import SAFE_METHODS, RouteSpec
from web.accounts import Role
from web.csrf import HEADER as CSRF_HEADER
from web.errors import ERROR_SCHEMA

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERROR_TEXT = {
    400: "请求内容有误", 401: "未登录或会话已过期", 403: "没有权限，或安全令牌/来源校验失败",
    404: "资源不存在", 409: "与当前状态冲突", 413: "请求内容过大", 415: "请求内容须为 JSON",
    429: "尝试过于频繁，请稍后再试", 503: "服务暂不可用",
}


def openapi_path(path: str) -> str:
    """aiohttp's `{id:\\d+}` becomes OpenAPI's `{id}`."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def allowed_roles(role: Role | None) -> list[str]:
    return ["anonymous", *[r.id for r in Role]] if role is None else [r.id for r in Role if r >= role]


def build(specs: Iterable[RouteSpec], *, title: str, version: str, cookie: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    for spec in specs:
        if not spec.api:
            continue
        tags.update(spec.tags)
        paths.setdefault(openapi_path(spec.path), {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "登录后使用会话 Cookie；修改类请求须在 " + CSRF_HEADER + " 头中携带登录时返回的 csrf_token。"},
        "paths": dict(sorted(paths.items())),
        "tags": [{"name": t} for t in sorted(tags)],
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": cookie},
                "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
            },
        },
    }


def _operation(spec: RouteSpec) -> dict[str, Any]:
    changing = spec.method not in SAFE_METHODS
    op: dict[str, Any] = {"operationId": spec.operation_id, "summary": spec.summary,
                          "tags": list(spec.tags), "x-roles": allowed_roles(spec.role)}
    if spec.description:
        op["description"] = spec.description
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PARAM.findall(spec.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": schema}
               for name, schema in spec.query.items()]
    if params:
        op["parameters"] = params
    if spec.request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec.request}}}
    if spec.role is None:
        op["security"] = []
    else:
        op["security"] = [{"session": [], "csrf": []}] if changing and spec.csrf else [{"session": []}]

    success: dict[str, Any] = {"description": "成功"}
    if spec.status != 204:
        success["content"] = {spec.content_type: {"schema": spec.response or {}}}
    errors = set(spec.errors)
    if params or spec.request is not None:
        errors.add(400)
    if spec.request is not None:
        errors.update((413, 415))
    if spec.role is not None:
        errors.update((401, 403))
    if changing:
        errors.add(403)
    responses: dict[str, Any] = {str(spec.status): success}
    for code in sorted(errors):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "请求失败"),
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    op["responses"] = responses
    return op
