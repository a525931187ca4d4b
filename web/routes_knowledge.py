"""The knowledge base (知识库) on the web: articles (admins write, everyone logged in reads), JSON and
CSV import and export, the console's suggestions from the live transcript, answering a call on the
call (直接办结) from an article, and the report.

    app = create_app(..., routes=[knowledge_routes(Knowledge(KnowledgeStore(pool), tickets))])

Admins write under /api/admin/knowledge/ (as every admin write), operators read and search under
/api/knowledge/. Every write and every 直接办结 goes to the audit trail. Suggestions are current articles only (valid
today in the hotline's time zone). A live search is kept for the report (searches that found nothing)
when the console says it came from a final turn, or when the operator typed it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from records.knowledge import KnowledgeStore
from tickets.knowledge import RESOLUTION, KnowledgeError, current, export_csv, export_json, parse_import
from tickets.store import TicketNotFound, TicketStore
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok, query
from web.accounts import Role
from web.errors import ApiError, not_found
from web.keys import AUDIT, KNOWLEDGE

_DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_OPT_TEXT = {"type": ["string", "null"]}
ARTICLE_BODY: dict[str, Any] = {
    "type": "object", "required": ["question", "answer"], "additionalProperties": False,
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}, "category": _OPT_TEXT,
                   "department": _OPT_TEXT, "valid_from": _OPT_TEXT, "valid_until": _OPT_TEXT,
                   "source": _OPT_TEXT, "keywords": {"type": ["array", "string", "null"]}}}
ARTICLE: dict[str, Any] = {"type": "object", "required": ["id", "question", "answer"],
                           "properties": {"id": {"type": "integer"}, "question": {"type": "string"},
                                          "answer": {"type": "string"}}}
ARTICLES = {"type": "object", "required": ["articles"],
            "properties": {"articles": {"type": "array", "items": ARTICLE}}}
IMPORT_BODY = {"type": "object", "required": ["format", "text"], "additionalProperties": False,
               "properties": {"format": {"type": "string", "enum": ["json", "csv"]},
                              "text": {"type": "string", "maxLength": 900_000}}}
SUGGEST_BODY = {"type": "object", "required": ["text"], "additionalProperties": False,
                "properties": {"text": {"type": "string", "maxLength": 4000},
                               "call_id": {"type": "string", "maxLength": 80, "pattern": r"^[A-Za-z0-9._:-]*$"},
                               "source": {"type": "string", "enum": ["live", "manual"], "default": "live"},
                               "keep": {"type": "boolean", "default": False}}}
SUGGEST = {"type": "object", "required": ["terms", "articles"],
           "properties": {"terms": {"type": "object"}, "articles": {"type": "array", "items": ARTICLE}}}
ANSWERED_BODY = {"type": "object", "required": ["ticket_id", "article_id"], "additionalProperties": False,
                 "properties": {"ticket_id": {"type": "string", "minLength": 1, "maxLength": 40},
                                "article_id": {"type": "integer", "minimum": 1, "maximum": 2 ** 63 - 1},
                                "fields": {"type": "object"}}}
REPORT = {"type": "object", "required": ["share", "articles", "not_found"],
          "properties": {"share": {"type": ["number", "null"]}, "articles": {"type": "array"},
                         "not_found": {"type": "array"}}}


@dataclass
class Knowledge:
    store: KnowledgeStore
    tickets: TicketStore
    clock: Callable[[], float] = time.time

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), self.tickets.tz).date()


routes = RouteTable(tag="knowledge")


def knowledge_routes(knowledge: Knowledge) -> RouteBundle:
    return RouteBundle(routes, {KNOWLEDGE: knowledge})


def _kb(request: web.Request) -> Knowledge:
    return request.app[KNOWLEDGE]


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "records.unavailable", "记录库暂不可用，请稍后再试", {"reason": type(exc).__name__})


_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or not 0 < int(text) < 2 ** 63:
        raise not_found("article", {"id": text})
    return int(text)


@routes.get("/api/knowledge/articles", summary="知识库：条目列表（可按文字筛选）", role=Role.OPERATOR,
            query={"q": {"type": "string", "maxLength": 100}}, response=ARTICLES, errors=(503,))
async def list_articles(request: web.Request) -> web.Response:
    kb = _kb(request)
    try:
        articles = await kb.store.articles(query(request).get("q") or "")
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    today = kb.today()
    return json_ok({"articles": [{**a, "current": current(_dates(a), today), "state": _state(a, today)}
                                 for a in articles]})


def _state(a: dict[str, Any], today: date) -> str:
    """current (suggested), expired (its end is past) or pending (it starts later)."""
    d = _dates(a)
    if d["valid_until"] is not None and d["valid_until"] < today:
        return "expired"
    return "pending" if d["valid_from"] is not None and d["valid_from"] > today else "current"


def _dates(a: dict[str, Any]) -> dict[str, Any]:
    return {k: date.fromisoformat(a[k]) if a.get(k) else None for k in ("valid_from", "valid_until")}


@routes.post("/api/admin/knowledge/articles", summary="知识库：新增条目", role=Role.ADMIN, request=ARTICLE_BODY,
             response=ARTICLE, status=201, errors=(400, 503))
async def create_article(request: web.Request) -> web.Response:
    user = current_user(request)
    try:
        art = await _kb(request).store.save(body(request), user.username)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    await request.app[AUDIT].record(actor(request), "knowledge.create", f"article:{art['id']}",
                                    {"question": art["question"]})
    return json_ok(art, status=201)


@routes.put("/api/admin/knowledge/articles/{id}", summary="知识库：修改条目", role=Role.ADMIN, request=ARTICLE_BODY,
            response=ARTICLE, errors=(400, 404, 503))
async def update_article(request: web.Request) -> web.Response:
    article_id, user = _id(request), current_user(request)
    try:
        art = await _kb(request).store.save(body(request), user.username, article_id)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    if not art:
        raise not_found("article", {"id": article_id})
    await request.app[AUDIT].record(actor(request), "knowledge.update", f"article:{article_id}",
                                    {"question": art["question"]})
    return json_ok(art)


@routes.delete("/api/admin/knowledge/articles/{id}", summary="知识库：删除条目", role=Role.ADMIN,
               response={"type": "object"}, errors=(404, 503))
async def delete_article(request: web.Request) -> web.Response:
    article_id = _id(request)
    try:
        gone = await _kb(request).store.delete(article_id)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    if not gone:
        raise not_found("article", {"id": article_id})
    await request.app[AUDIT].record(actor(request), "knowledge.delete", f"article:{article_id}", {})
    return json_ok({"deleted": article_id})


@routes.get("/api/admin/knowledge/export", summary="知识库：导出（JSON 或 CSV，UTF-8 带 BOM）", role=Role.ADMIN,
            query={"format": {"type": "string", "enum": ["json", "csv"], "default": "json"}},
            content_type="application/octet-stream", response={"type": ["array", "string"]}, errors=(503,),
            audit="knowledge.export")
async def export_articles(request: web.Request) -> web.Response:
    fmt = query(request).get("format") or "json"
    try:
        articles = await _kb(request).store.articles(limit=100_000)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    if fmt == "csv":
        return web.Response(text="\ufeff" + export_csv(articles), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="knowledge.csv"'})
    return web.Response(text=export_json(articles), content_type="application/json", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="knowledge.json"'})


@routes.post("/api/admin/knowledge/import", summary="知识库：导入（JSON 或 CSV；带 id 的行修改该条目；有错则全部不导入）",
             role=Role.ADMIN, request=IMPORT_BODY, response={"type": "object"}, errors=(400, 503))
async def import_articles(request: web.Request) -> web.Response:
    data, user = body(request), current_user(request)
    articles = parse_import(data["text"], data["format"])
    try:
        done = await _kb(request).store.import_many(articles, user.username)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    await request.app[AUDIT].record(actor(request), "knowledge.import", "knowledge", {**done, "format": data["format"]})
    return json_ok(done)


@routes.post("/api/knowledge/suggest", summary="知识库：按通话实时转写（或输入的文字）检索，前 3 条现行有效条目",
             role=Role.OPERATOR, request=SUGGEST_BODY, response=SUGGEST, errors=(503,))
async def suggest(request: web.Request) -> web.Response:
    data, kb = body(request), _kb(request)
    source = data.get("source") or "live"
    today = kb.today()
    try:
        terms, found = await kb.store.search(data["text"], today)
        if (data.get("keep") or source == "manual") and not terms.empty:
            await kb.store.log_search(today, source, terms.text, len(found), data.get("call_id") or None,
                                      found[0]["id"] if found else None)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    return json_ok({"terms": {"words": list(terms.words), "sounds": list(terms.sounds)},
                    "articles": [{k: a[k] for k in ("id", "question", "answer", "category", "department",
                                                   "valid_from", "valid_until", "source", "score", "passage")}
                                 for a in found]})


@routes.post("/api/knowledge/answered", summary="直接办结：引用知识库条目确认并办结本通话的工单",
             role=Role.OPERATOR, request=ANSWERED_BODY, response={"type": "object"}, errors=(400, 403, 404, 409, 503))
async def answered_on_call(request: web.Request) -> web.Response:
    from web.routes_console import may_handle_call

    data, kb, user = body(request), _kb(request), current_user(request)
    try:
        ticket = await kb.tickets.get(data["ticket_id"])
    except TicketNotFound:
        raise not_found("ticket", {"id": data["ticket_id"]}) from None
    await may_handle_call(request, ticket.call_id)
    try:
        article = await kb.store.get(data["article_id"])
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    if article is None:
        raise not_found("article", {"id": data["article_id"]})
    today = kb.today()
    if not current(_dates(article), today):
        raise KnowledgeError([{"field": "article_id", "message": "the article is not in force today"}])
    fields = {**(data.get("fields") or {}), "resolution": RESOLUTION, "kb_article": str(article["id"])}
    if not fields.get("summary"):
        fields["summary"] = f"来电咨询：{article['question']}（已按知识库答复，直接办结）"
    who = user.operator_id or user.username
    done = await kb.tickets.confirm(ticket.id, who, fields)
    try:
        await kb.store.record_use(today, done.call_id, done.id, article, who)
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
    await request.app[AUDIT].record(actor(request), "knowledge.answered", f"ticket:{done.id}",
                                    {"call_id": done.call_id, "article": article["id"]})
    return json_ok({**done.to_dict(kb.tickets.tz), "article": {"id": article["id"], "question": article["question"]}})


@routes.get("/api/reports/knowledge", summary="统计报表：直接办结占比、常用知识条目、未检索到的问题",
            role=Role.SUPERVISOR, query={"from": _DAY, "to": _DAY}, response=REPORT, errors=(400, 503))
async def knowledge_report(request: web.Request) -> web.Response:
    q, kb = query(request), _kb(request)
    try:
        last = date.fromisoformat(q["to"]) if q.get("to") else kb.today()
        first = date.fromisoformat(q["from"]) if q.get("from") else last - timedelta(days=13)
    except ValueError:
        raise ApiError(400, "invalid", "日期无效", {"problems": [{"field": "from", "message": "not a date"}]}) from None
    if first > last or (last - first).days > 400:
        raise ApiError(400, "invalid", "日期范围无效（最长 400 天）", {})
    try:
        return json_ok(await kb.store.report(first, last))
    except _DB_ERRORS as exc:
        raise _unavailable(exc) from None
