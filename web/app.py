"""The aiohttp application factory (console, admin, wallboard come later)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

STATUS = web.AppKey("status", Callable[[], dict[str, Any]])


async def _health(request: web.Request) -> web.Response:
    status = request.app[STATUS]()
    ok = all(v.get("ok", False) for v in status.values() if isinstance(v, dict))
    return web.json_response({"ok": ok, **status}, status=200 if ok else 503)


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="<!doctype html><html lang=zh-CN><meta charset=utf-8>"
                             "<title>株洲12345热线</title><h1>株洲12345政务服务便民热线</h1>"
                             "<p><a href=/healthz>系统状态</a></p></html>", content_type="text/html")


def create_app(status: Callable[[], dict[str, Any]]) -> web.Application:
    app = web.Application()
    app[STATUS] = status
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _health)
    return app
