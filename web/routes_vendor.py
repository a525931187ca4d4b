"""Third-party browser files installed at set-up (`npm install --prefix web`),
served from web/node_modules, never copied into the repository.

    create_app(..., routes=[vendor_routes()])     # GET /static/vendor/echarts.min.js
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from web.access import RouteBundle, RouteTable
from web.errors import ApiError
from web.keys import VENDOR

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"
ECHARTS = Path("echarts") / "dist" / "echarts.min.js"


@dataclass(frozen=True)
class Vendor:
    node_modules: Path


routes = RouteTable(tag="pages")


def vendor_routes(node_modules: Path = NODE_MODULES) -> RouteBundle:
    return RouteBundle(routes, {VENDOR: Vendor(node_modules)})


@routes.get("/static/vendor/echarts.min.js", summary="Apache ECharts（npm 安装）", role=None, api=False,
            content_type="application/javascript", errors=(404,))
async def vendor_echarts(request: web.Request) -> web.StreamResponse:
    path = request.app[VENDOR].node_modules / ECHARTS
    if not path.is_file():
        raise ApiError(404, "not_installed", "图表组件未安装，请运行 npm install --prefix web")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
