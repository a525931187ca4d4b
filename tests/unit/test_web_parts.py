"""The web layer's pure parts: the schema checker, metrics text, OpenAPI build."""
import pytest
from aiohttp import web

from web.access import RouteTable
from web.accounts import Role
from web.metrics import Metrics
from web.openapi import allowed_roles, build, openapi_path
from web.schema import check

SCHEMA = {
    "type": "object", "required": ["name", "role"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
                   "role": {"type": "string", "enum": ["a", "b"]},
                   "n": {"type": "integer", "minimum": 1, "maximum": 3},
                   "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                   "seat": {"type": ["string", "null"]}},
}


def test_schema_accepts_valid_documents():
    assert check({"name": "ab", "role": "a", "n": 2, "tags": ["x"], "seat": None}, SCHEMA) == []


@pytest.mark.parametrize("doc, path", [
    ({"role": "a"}, "name"), ({"name": "ab", "role": "c"}, "role"), ({"name": "a", "role": "a"}, "name"),
    ({"name": "abcde", "role": "a"}, "name"), ({"name": "AB", "role": "a"}, "name"),
    ({"name": "ab", "role": "a", "n": 0}, "n"), ({"name": "ab", "role": "a", "n": True}, "n"),
    ({"name": "ab", "role": "a", "n": 1.5}, "n"), ({"name": "ab", "role": "a", "x": 1}, "x"),
    ({"name": "ab", "role": "a", "tags": ["a", 1]}, "tags[1]"),
    ({"name": "ab", "role": "a", "tags": ["a", "b", "c"]}, "tags"), ({"name": "ab", "role": "a", "seat": 3}, "seat"),
    ([], "$"),
])
def test_schema_reports_each_problem_with_its_path(doc, path):
    problems = check(doc, SCHEMA)
    assert [p["path"] for p in problems] == [path]
    assert problems[0]["message"]


async def test_metrics_text_exposition():
    m = Metrics()
    c = m.counter("x_requests_total", "Requests", ("route",))
    c.inc(route="/a")
    c.inc(2, route='/b"\n')
    g = m.gauge("x_waiting", "Waiting\nnow")
    g.set(3)
    g.dec()
    h = m.histogram("x_seconds", "Latency", buckets=(0.1, 1))
    h.observe(0.05)
    h.observe(0.5)
    h.observe(5)
    m.callback("x_seats", "Seats", fn=lambda: {("ready",): 2, ("paused",): 1}, labels=("state",))
    assert m.counter("x_requests_total", "Requests", ("route",)) is c     # registering again returns it
    with pytest.raises(ValueError):
        m.gauge("x_requests_total", "clash")
    with pytest.raises(ValueError):
        c.inc(route="/a", extra="1")
    with pytest.raises(ValueError):
        c.inc(-1, route="/a")
    text = await m.render()
    lines = text.splitlines()
    assert "# TYPE x_requests_total counter" in lines
    assert 'x_requests_total{route="/a"} 1' in lines
    assert 'x_requests_total{route="/b\\"\\n"} 2' in lines
    assert "# HELP x_waiting Waiting\\nnow" in lines and "x_waiting 2" in lines
    assert 'x_seconds_bucket{le="0.1"} 1' in lines and 'x_seconds_bucket{le="1"} 2' in lines
    assert 'x_seconds_bucket{le="+Inf"} 3' in lines and "x_seconds_count 3" in lines
    assert "x_seconds_sum 5.55" in lines
    assert 'x_seats{state="paused"} 1' in lines and "# TYPE x_seats gauge" in lines
    assert text.endswith("\n")


async def test_a_failing_callback_is_left_out_not_fatal(caplog):
    m = Metrics()
    m.gauge("ok_gauge", "fine").set(1)
    m.callback("bad_gauge", "broken", fn=lambda: 1 / 0)
    text = await m.render()
    assert "ok_gauge 1" in text and "bad_gauge" not in text
    assert "bad_gauge" in caplog.text


def test_openapi_document_from_route_metadata():
    table = RouteTable(tag="demo")

    @table.post("/api/things/{id:\\d+}", summary="改", role=Role.SUPERVISOR, request={"type": "object"},
                response={"type": "object"}, errors=(404,))
    async def change_thing(request):
        return web.json_response({})

    @table.get("/api/public", summary="公开", role=None, query={"q": {"type": "string"}})
    async def public_thing(request):
        return web.json_response({})

    @table.get("/page", summary="页", role=Role.OPERATOR, api=False)
    async def page(request):
        return web.Response()

    doc = build(table, title="t", version="1", cookie="sid")
    assert doc["openapi"] == "3.1.0" and set(doc["paths"]) == {"/api/things/{id}", "/api/public"}
    op = doc["paths"]["/api/things/{id}"]["post"]
    assert op["operationId"] == "change_thing" and op["x-roles"] == ["supervisor", "admin"]
    assert op["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert set(op["responses"]) == {"200", "400", "401", "403", "404", "413", "415"}
    assert op["security"] == [{"session": [], "csrf": []}]
    pub = doc["paths"]["/api/public"]["get"]
    assert pub["security"] == [] and pub["x-roles"][0] == "anonymous"
    assert pub["parameters"][0]["in"] == "query"
    assert openapi_path("/a/{x}/{y:[0-9]+}") == "/a/{x}/{y}"
    assert allowed_roles(Role.ADMIN) == ["admin"]
