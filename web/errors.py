"""API errors: an id for programs, a zh-CN message for people, details.

Every error response of the API has the body
`{"error": id, "message": zh-CN text, "details": {...}}`. Raise `ApiError`
(or a subclass) from a handler; the error middleware renders it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "details"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}


class ApiError(Exception):
    """An HTTP error with structure; `status` picks the response code."""

    def __init__(self, status: int, error_id: str, message: str,
                 details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{error_id}: {message}")
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.error_id, self.message, self.details, self.headers)


def error_response(status: int, error_id: str, message: str, details: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"error": error_id, "message": message, "details": dict(details or {})}
    return web.json_response(body, status=status, headers=dict(headers or {}),
                             dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


# The usual ones, so messages stay consistent across modules.
def unauthenticated() -> ApiError:
    return ApiError(401, "unauthenticated", "请先登录")


def forbidden(details: Mapping[str, Any] | None = None) -> ApiError:
    return ApiError(403, "forbidden", "没有权限执行此操作", details)


def not_found(what: str = "resource", details: Mapping[str, Any] | None = None) -> ApiError:
    return ApiError(404, "not_found", "请求的资源不存在", {"what": what, **(details or {})})


def invalid(problems: list[dict[str, str]]) -> ApiError:
    return ApiError(400, "invalid_request", "请求内容有误", {"problems": problems})
