"""The HTML pages: the login page and the page shell (console, admin and
wallboard pages are added on top of the shell later). Plain files from
web/static/, no build step; the pages talk to the API with fetch()."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.access import RouteTable, principal
from web.accounts import Role

STATIC_DIR = Path(__file__).resolve().parent / "static"

routes = RouteTable(tag="pages")


@routes.get("/", summary="工作台首页", role=Role.OPERATOR, api=False, content_type="text/html")
async def shell_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


@routes.get("/login", summary="登录页", role=None, api=False, content_type="text/html")
async def login_page(request: web.Request) -> web.StreamResponse:
    if principal(request) is not None:
        raise web.HTTPFound("/")
    return web.FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-store"})
