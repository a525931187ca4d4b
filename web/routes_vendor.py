"""Third-party browser files installed at set-up (`npm install --prefix web`),
served from web/node_modules, never copied into the repository.

    create_app(..., routes=[vendor_routes()])     # GET /static/vendor/echarts.min.js
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.access import RouteTable
from web.errors import ApiError

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"
ECHARTS = Path("echarts") / "dist" / "echarts.min.js"


def vendor_routes(node_modules: Path = NODE_MODULES) -> RouteTable:
    routes = RouteTable(tag="pages")

    @routes.get("/static/vendor/echarts.min.js", summary="Apache ECharts（npm 安装）", role=None, api=False,
                content_type="application/javascript", errors=(404,))
    async def vendor_echarts(request: web.Request) -> web.StreamResponse:
        path = node_modules / ECHARTS
        if not path.is_file():
            raise ApiError(404, "not_installed", "图表组件未安装，请运行 npm install --prefix web")
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    return routes
