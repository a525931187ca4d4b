"""The one HTTP error map (web.error_map) and the route bundles create_app installs."""
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agents.errors import AgentsError, NotLoggedIn, UnknownSeat
from agents.outbound import NumberRefused
from agents.transfer import NoTransfer, TransferError
from ivr.config_files import ConfigProblems, ConfigUnreadable, ListInvalid, OutsideConfigDir, UnknownList
from ivr.problems import Problem
from ivr.versions import VersionError
from tickets.model import TicketsError
from web.access import RouteBundle, RouteTable, json_ok
from web.accounts import AccountError
from web.app import create_app
from web.error_map import api_error
from web.reports import ReportError


def body_of(exc: Exception) -> tuple[int, dict]:
    refusal = api_error(exc)
    assert refusal is not None
    response = refusal.response()
    return response.status, json.loads(response.text)


@pytest.mark.parametrize("exc, status, body", [
    (UnknownSeat("no seat 9", seat="9"), 404,
     {"error": "unknown_seat", "message": "坐席不存在", "details": {"seat": "9"}}),
    (NotLoggedIn("nobody"), 409, {"error": "not_logged_in", "message": "坐席尚未登录", "details": {}}),
    (AgentsError("other"), 409, {"error": "agents_error", "message": "坐席操作失败", "details": {}}),
    # a transfer's refusals keep their own words, and their own default
    (NoTransfer("none", call_id="c1"), 409,
     {"error": "no_transfer", "message": "该通话没有正在进行的转接", "details": {"call_id": "c1"}}),
    (TransferError("other"), 409, {"error": "transfer_error", "message": "转接操作失败", "details": {}}),
    (NumberRefused("no", reason="not_digits"), 409,
     {"error": "number_refused", "message": "转接操作失败", "details": {"reason": "not_digits"}}),
    (TicketsError("tickets.wrong_status", "done", id="t1"), 409,
     {"error": "ticket_wrong_status", "message": "工单已确认，不能重复确认", "details": {"id": "t1"}}),
    (TicketsError("tickets.other", "x"), 400, {"error": "ticket_other", "message": "工单操作失败", "details": {}}),
    (VersionError("unchanged", "same"), 409,
     {"error": "unchanged", "message": "与当前版本相同，无需发布", "details": {"detail": "same"}}),
    (AccountError("username_taken", "用户名已存在", {"username": "a"}), 409,
     {"error": "username_taken", "message": "用户名已存在", "details": {"username": "a"}}),
    (AccountError("weak_password", "密码太短"), 400, {"error": "weak_password", "message": "密码太短", "details": {}}),
    (ReportError("bad_range", "日期范围无效", field="from"), 400,
     {"error": "bad_range", "message": "日期范围无效", "details": {"field": "from"}}),
    (ConfigUnreadable("transfers", "bad yaml"), 503,
     {"error": "config_unreadable", "message": "转接号码文件无法读取", "details": {"detail": "bad yaml"}}),
    (OutsideConfigDir("out", file="../x"), 400,
     {"error": "bad_path", "message": "文件路径不在配置目录内", "details": {"file": "../x"}}),
    (UnknownList("no list", id="vip"), 404,
     {"error": "not_found", "message": "请求的资源不存在", "details": {"what": "list", "id": "vip"}}),
])
def test_each_domain_error_has_one_response(exc, status, body):
    assert body_of(exc) == (status, body)


def test_problem_lists_are_rendered_for_the_page():
    status, body = body_of(ConfigProblems([Problem("seats.0.id", "missing", "id missing"), {"path": "", "message": "m"}]))
    assert (status, body["error"], body["message"]) == (400, "config_invalid", "配置有 2 处问题，未保存")
    assert body["details"]["problems"][1] == {"path": "", "message": "m"}
    status, body = body_of(ListInvalid([Problem("list.line.3", "list_line", "line 3: no number")], good=5))
    assert body["message"] == "名单有 1 行有误，未导入" and body["details"]["good"] == 5
    assert body["details"]["problems"] == [{"line": 3, "message": "no number", "text": "缺少号码"}]
    status, body = body_of(VersionError("tree_invalid", "bad", [Problem("nodes.menu.x", "unknown_field", "x")]))
    assert (status, body["message"]) == (400, "流程树有 1 处问题，未发布")
    assert body["details"]["problems"][0]["node"] == "menu"


def test_an_error_of_no_family_is_a_fault():
    assert api_error(ValueError("bug")) is None
    assert api_error(KeyError("x")) is None


# -- bundles -------------------------------------------------------------------------------
COUNTER: web.AppKey[list] = web.AppKey("test_counter")
table = RouteTable(tag="test")


@table.get("/api/test/count", summary="count", role=None)
async def count_handler(request: web.Request) -> web.Response:
    counter = request.app[COUNTER]
    if not counter:
        raise UnknownSeat("none yet", seat="x")          # a domain error, through the map
    return json_ok({"n": len(counter)})


def started(log: list):
    async def ctx(app: web.Application):
        log.append("up")
        yield
        log.append("down")
    return ctx


async def test_create_app_installs_a_bundles_services_and_contexts():
    counter: list = []
    app = create_app(lambda: {}, routes=[RouteBundle(table, {COUNTER: counter}, (started(counter),))])
    assert app[COUNTER] is counter
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/api/test/count")
        assert (r.status, await r.json()) == (200, {"n": 1})     # the context ran before the first request
    finally:
        await client.close()
    assert counter == ["up", "down"]


async def test_a_domain_error_from_a_handler_gets_its_mapped_response():
    app = create_app(lambda: {}, routes=[RouteBundle(table, {COUNTER: []})])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/api/test/count")
        assert r.status == 404
        assert await r.json() == {"error": "unknown_seat", "message": "坐席不存在", "details": {"seat": "x"}}
    finally:
        await client.close()


def test_two_different_services_under_one_key_are_refused():
    other = RouteTable()
    with pytest.raises(ValueError, match="two different services"):
        create_app(lambda: {}, routes=[RouteBundle(table, {COUNTER: []}), RouteBundle(other, {COUNTER: []})])
    shared: list = []
    create_app(lambda: {}, routes=[RouteBundle(table, {COUNTER: shared}), RouteBundle(other, {COUNTER: shared})])


def test_every_route_handler_is_a_module_level_function():
    """Handlers read their services through typed app keys, never from a factory's closure."""
    import importlib
    import pkgutil

    import web
    from web.access import RouteTable as Table

    tables = 0
    for info in pkgutil.iter_modules(web.__path__):
        module = importlib.import_module(f"web.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Table):
                tables += 1
                for spec in value:
                    assert "<locals>" not in spec.handler.__qualname__, f"{info.name}: {spec.handler.__qualname__}"
                    assert getattr(module, spec.handler.__name__) is spec.handler
    assert tables >= 15
