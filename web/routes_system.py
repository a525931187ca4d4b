"""System endpoints: health, Prometheus metrics, the OpenAPI document."""
from __future__ import annotations

from aiohttp import web

from web.access import RouteTable, json_ok
from web.auth import same_token
from web.errors import ApiError
from web.keys import CONFIG, METRICS, SPECS, STATUS
from web.metrics import CONTENT_TYPE
from web.openapi import build

API_TITLE = "株洲12345政务服务便民热线 API"
API_VERSION = "0.1.0"

routes = RouteTable(tag="system")


@routes.get("/healthz", summary="系统状态（各组件是否正常）", role=None, errors=(503,),
            response={"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}})
async def health(request: web.Request) -> web.Response:
    status = request.app[STATUS]()
    ok = all(v.get("ok", False) for v in status.values() if isinstance(v, dict))
    return json_ok({"ok": ok, **status}, status=200 if ok else 503)


@routes.get("/metrics", summary="Prometheus 指标", role=None, content_type="text/plain",
            response={"type": "string"}, errors=(401,),
            description="配置了 metrics_token 时须携带 Authorization: Bearer <token>。")
async def metrics(request: web.Request) -> web.Response:
    token = request.app[CONFIG].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not same_token(given, f"Bearer {token}"):
            raise ApiError(401, "unauthenticated", "需要指标访问令牌")
    text = await request.app[METRICS].render()
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})


@routes.get("/api/openapi.json", summary="本 API 的 OpenAPI 3.1 文档", role=None,
            response={"type": "object", "required": ["openapi", "paths"]})
async def openapi(request: web.Request) -> web.Response:
    doc = build(request.app[SPECS].values(), title=API_TITLE, version=API_VERSION,
                cookie=request.app[CONFIG].cookie)
    return json_ok(doc)
