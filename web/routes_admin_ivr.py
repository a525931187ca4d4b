"""The admin's IVR API: the tree (JSON and YAML), validation with every
problem and the node at fault, simulation, publish, versions, the semantic
diff, rollback, and the prompts' audio (TTS preview and uploads).

    app = create_app(..., routes=[admin_ivr_routes(versions, base_dir, resolver, trees=editable)])

Every tree route takes ``?tree=<name>``: the call tree (``calls``, the default) or another tree a
feature registered in the same `web.ivr_trees.TreeRegistry` (``revisit``); an unknown name is a 404.
Drafts are per tree; the prompts' audio is shared by all trees.

Publishing goes through `ivr.versions.VersionStore.publish` only: a broken
tree is refused with all its problems and never published, and calls in
progress keep the version they pinned when they entered. Every change is
written to the audit trail; every route is for admins only.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ivr.diff import diff_trees, summarize
from ivr.engine import EngineError
from ivr.loader import load_data, parse_text
from ivr.simulate import facts_for, parse_at, simulate
from ivr.validate import check_parsed
from ivr.versions import VersionError, VersionStore
from recordings.prompts import AUDIO_EXTS, PromptResolver
from recordings.tts import TTSError
from web.access import RouteBundle, RouteTable, actor, body, current_user, json_ok, query
from web.accounts import Role
from web.errors import ApiError
from web.ivr_trees import CALLS, CALLS_LABEL, EditableTree, TreeRegistry
from web.keys import AUDIT, IVR_ADMIN
from web.problem_views import problem_view
from web.routes_pages import STATIC_DIR

TOP_ORDER = ("version", "name", "description", "entry", "timezone", "defaults", "lanes", "lists", "calendars",
             "nodes")
MAX_UPLOAD_S = 120

# -- schemas --------------------------------------------------------------------------
DOC = {"type": "object", "description": "流程树文档（与 YAML 文件同结构）"}
PROBLEM_SCHEMA = {
    "type": "object", "required": ["path", "code", "message", "node", "text"],
    "properties": {"path": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
                   "node": {"type": ["string", "null"]}, "text": {"type": "string"},
                   "line": {"type": "integer"}},
}
PROBLEMS_SCHEMA = {"type": "object", "required": ["ok", "problems"],
                   "properties": {"ok": {"type": "boolean"},
                                  "problems": {"type": "array", "items": PROBLEM_SCHEMA}}}
VERSION_SCHEMA = {
    "type": "object", "required": ["number", "hash", "author", "comment", "published_at", "rollback_of"],
    "properties": {"number": {"type": "integer"}, "hash": {"type": "string"}, "author": {"type": "string"},
                   "comment": {"type": "string"}, "published_at": {"type": "number"},
                   "rollback_of": {"type": ["integer", "null"]}, "current": {"type": "boolean"}},
}
TREE_SCHEMA = {"type": "object", "required": ["version", "doc"],
               "properties": {"version": VERSION_SCHEMA, "doc": DOC}}
DOC_BODY = {"type": "object", "required": ["doc"], "additionalProperties": False, "properties": {"doc": DOC}}
IMPORT_BODY = {"type": "object", "required": ["text"], "additionalProperties": False,
               "properties": {"text": {"type": "string", "description": "YAML 或 JSON 文本（请求体上限 1 MB）"}}}
IMPORT_SCHEMA = {"type": "object", "required": ["doc", "ok", "problems"],
                 "properties": {"doc": {"type": ["object", "null"]}, "ok": {"type": "boolean"},
                                "problems": {"type": "array", "items": PROBLEM_SCHEMA}}}
SIM_BODY = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "doc": DOC, "version": {"type": "integer", "minimum": 1},
        "caller": {"type": "string", "maxLength": 32, "pattern": r"^[0-9+()\- ]*$"},
        "did": {"type": "string", "maxLength": 32, "pattern": r"^[0-9+*#]*$"},
        "at": {"type": "string", "maxLength": 40, "description": "ISO 时间，不带时区时按流程树时区"},
        "keys": {"type": "string", "maxLength": 64, "pattern": r"^[0-9*#,]*$",
                 "description": "按键；用逗号分隔各次提示的按键"},
    },
}
SIM_SCHEMA = {"type": "object", "required": ["path", "outcome"],
              "properties": {"path": {"type": "array", "items": {"type": "string"}}, "outcome": {"type": "object"},
                             "vars": {"type": "object"}, "notes": {"type": "array"}}}
PUBLISH_BODY = {"type": "object", "required": ["doc", "comment"], "additionalProperties": False,
                "properties": {"doc": DOC, "comment": {"type": "string", "minLength": 1, "maxLength": 200},
                               "republish": {"type": "boolean",
                                             "description": "内容未变也发布（名单、日历文件更新后重新加载）"}}}
ROLLBACK_BODY = {"type": "object", "required": ["version"], "additionalProperties": False,
                 "properties": {"version": {"type": "integer", "minimum": 1},
                                "comment": {"type": "string", "maxLength": 200}}}
HISTORY_SCHEMA = {"type": "object", "required": ["current", "versions"],
                  "properties": {"current": {"type": ["integer", "null"]},
                                 "versions": {"type": "array", "items": VERSION_SCHEMA}}}
DIFF_SCHEMA = {"type": "object", "required": ["from", "to", "diff", "summary"],
               "properties": {"from": {"type": ["integer", "null"]}, "to": {"type": ["integer", "null"]},
                              "diff": {"type": "object"}, "summary": {"type": "array", "items": {"type": "string"}}}}
DIFF_BODY = {"type": "object", "required": ["doc"], "additionalProperties": False,
             "properties": {"doc": DOC, "against": {"type": "integer", "minimum": 1}}}
DRAFT_SCHEMA = {"type": "object", "required": ["doc", "problems"],
                "properties": {"doc": DOC, "problems": {"type": "array"}}}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"^[^\x00-\x1f\x7f]+$",
         "description": "提示音文字（一行）"}
UPLOAD_BODY = {"type": "object", "required": ["text", "audio_base64"], "additionalProperties": False,
               "properties": {"text": _TEXT,
                              "audio_base64": {"type": "string", "minLength": 8,
                                               "description": "WAV 文件内容（base64；请求体上限 1 MB）"}}}
PROMPT_SCHEMA = {"type": "object", "required": ["text", "uploaded"],
                 "properties": {"text": {"type": "string"}, "uploaded": {"type": "boolean"},
                                "duration_s": {"type": ["number", "null"]}}}


# -- helpers (pure) ---------------------------------------------------------------------
def ordered(doc: Any) -> Any:
    """A tree document with its top-level keys in the usual reading order (for YAML export)."""
    if not isinstance(doc, dict):
        return doc
    out = {k: doc[k] for k in TOP_ORDER if k in doc}
    out.update({k: v for k, v in doc.items() if k not in out})
    return out


def to_yaml(doc: Any) -> str:
    return yaml.safe_dump(ordered(doc), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)


def tree_invalid(problems: list[Any]) -> VersionError:
    """The refusal of a tree with problems (the same a publish gives; web.error_map renders it)."""
    return VersionError("tree_invalid", f"tree has {len(problems)} problem(s)", problems)


def convert_wav(data: bytes, dest: Path) -> float:
    """An uploaded WAV -> 8 kHz mono 16-bit at ``dest`` (atomic); its length in seconds."""
    import wave

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ApiError(400, "audio_invalid", "请上传 WAV 格式的录音文件")
    sox = shutil.which("sox")
    if not sox:
        raise ApiError(503, "audio_unavailable", "服务器缺少 sox，无法处理录音")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, src = tempfile.mkstemp(suffix=".wav", dir=dest.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    fd, out = tempfile.mkstemp(suffix=".wav", dir=dest.parent)
    os.close(fd)
    try:
        r = subprocess.run([sox, "-V1", src, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise ApiError(400, "audio_invalid", "录音文件无法识别，请上传标准 WAV 文件",
                           {"detail": r.stderr.decode(errors="replace").strip()[:300]})
        with wave.open(out, "rb") as w:
            seconds = w.getnframes() / float(w.getframerate())
        if seconds <= 0.1 or seconds > MAX_UPLOAD_S:
            raise ApiError(400, "audio_length", f"录音时长须在 0.1 至 {MAX_UPLOAD_S} 秒之间",
                           {"seconds": round(seconds, 2)})
        os.replace(out, dest)
        return seconds
    finally:
        for p in (src, out):
            if os.path.exists(p):
                os.unlink(p)


def _wav_seconds(path: Path) -> float | None:
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            return round(w.getnframes() / float(w.getframerate()), 2)
    except (OSError, EOFError, wave.Error):
        return None


# -- routes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IvrAdmin:
    """What the IVR admin handlers work on: the editable trees (each with its versions and draft),
    the configuration folder, the prompts (shared by every tree)."""

    trees: TreeRegistry
    base: Path
    resolver: PromptResolver

    def check(self, doc: Any) -> Any:
        from ivr.loader import Parsed
        return check_parsed(Parsed(doc), base_dir=self.base)

    def uploaded_file(self, text: str) -> Path | None:
        up = self.resolver.upload_path(text)
        if up is None:
            return None
        for ext in AUDIO_EXTS:
            if up.with_suffix(ext).exists():
                return up.with_suffix(ext)
        return None


routes = RouteTable(tag="admin-ivr")
TREE_QUERY: dict[str, dict[str, Any]] = {
    "tree": {"type": "string", "maxLength": 40, "default": CALLS,
             "description": "流程树：calls 来电流程（默认）；revisit 回访流程（启用回访时）。可选项见 GET /api/admin/ivr/trees"}}
VERSION_QUERY: dict[str, dict[str, Any]] = {**TREE_QUERY, "version": {"type": "integer", "minimum": 1}}
TREES_SCHEMA = {"type": "object", "required": ["trees"],
                "properties": {"trees": {"type": "array", "items": {
                    "type": "object", "required": ["name", "label", "current"],
                    "properties": {"name": {"type": "string"}, "label": {"type": "string"},
                                   "current": {"type": ["integer", "null"]}}}}}}


def admin_ivr_routes(versions: VersionStore, base_dir: Path, resolver: PromptResolver,
                     trees: TreeRegistry | None = None) -> RouteBundle:
    """``versions``: the call tree's. ``trees``: the registry other features add their trees to
    (the call tree is registered in it as ``calls`` here, when it is not already)."""
    trees = trees if trees is not None else TreeRegistry()
    if CALLS not in trees:
        trees.add(CALLS, CALLS_LABEL, versions, audit="ivr")
    elif trees.get(CALLS).versions is not versions:
        raise ValueError("the registry's call tree is not the one given")
    return RouteBundle(routes, {IVR_ADMIN: IvrAdmin(trees, Path(base_dir), resolver)})


def tree_of(request: web.Request) -> EditableTree:
    """The tree the request names (``?tree=``, the call tree by default); 404 for any other."""
    return request.app[IVR_ADMIN].trees.get(query(request)["tree"])


async def current_number(tree: EditableTree) -> int:
    n = await tree.versions.current_number()
    if n is None:
        raise ApiError(404, "no_published_tree", f"{tree.label}尚未发布")
    return n


async def tree_reply(tree: EditableTree, version: int | None = None) -> dict[str, Any]:
    """A version of the tree (the current one by default) with its info, as GET .../tree answers."""
    n = version or await current_number(tree)
    doc = await tree.versions.document(n)
    info = (await tree.versions.info(n)).to_dict()
    info["current"] = n == await tree.versions.current_number()
    return {"version": info, "doc": ordered(doc)}


async def publish_tree(request: web.Request, tree: EditableTree, data: dict[str, Any]) -> web.Response:
    """Publish ``data["doc"]`` as the tree's next version (refused with every problem), audited."""
    user = current_user(request)
    before = await tree.versions.current_number()
    try:
        info = await tree.versions.publish(data["doc"], user.username, data["comment"],
                                           force=bool(data.get("republish")))
    except VersionError as exc:
        await _audit(request, "ivr.publish_refused", tree.audit, {"tree": tree.name, "error": exc.error_id,
                                                                 "problems": len(exc.problems)})
        raise
    await _audit(request, "ivr.publish", f"{tree.audit}:version:{info.number}",
                 {"tree": tree.name, "comment": info.comment, "previous": before, "hash": info.hash})
    return json_ok({**info.to_dict(), "current": True}, status=201)


async def _audit(request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
    await request.app[AUDIT].record(actor(request), action, target, details)


@routes.get("/api/admin/ivr/trees", summary="可编辑的流程树（来电流程、回访流程……）及其当前版本", role=Role.ADMIN,
            response=TREES_SCHEMA)
async def admin_ivr_trees(request: web.Request) -> web.Response:
    return json_ok({"trees": [{**t.to_dict(), "current": await t.versions.current_number()}
                              for t in request.app[IVR_ADMIN].trees]})


@routes.get("/api/admin/ivr/tree", summary="读取流程树（默认为当前发布版本）", role=Role.ADMIN,
            response=TREE_SCHEMA, errors=(404,), query=VERSION_QUERY)
async def admin_ivr_tree(request: web.Request) -> web.Response:
    return json_ok(await tree_reply(tree_of(request), query(request).get("version")))


@routes.get("/api/admin/ivr/tree.yaml", summary="导出流程树为 YAML", role=Role.ADMIN, errors=(404,),
            content_type="application/yaml", query=VERSION_QUERY)
async def admin_ivr_export_yaml(request: web.Request) -> web.Response:
    tree = tree_of(request)
    n = query(request).get("version") or await current_number(tree)
    text = f"# {tree.label} 版本 {n}\n" + to_yaml(await tree.versions.document(n))
    name = tree.audit.replace(":", "-")
    return web.Response(text=text, content_type="application/yaml", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}-v{n}.yaml"'})


@routes.post("/api/admin/ivr/import", summary="导入 YAML/JSON 文本（只解析和校验，不发布）", role=Role.ADMIN,
             request=IMPORT_BODY, response=IMPORT_SCHEMA, errors=(404,), query=TREE_QUERY)
async def admin_ivr_import(request: web.Request) -> web.Response:
    tree_of(request)                    # (every tree is checked the same way; an unknown one is refused)
    parsed = parse_text(body(request)["text"])
    result = await asyncio.to_thread(check_parsed, parsed, base_dir=request.app[IVR_ADMIN].base)
    problems = [problem_view(p) for p in result.problems]
    doc = parsed.data if isinstance(parsed.data, dict) else None
    return json_ok({"doc": ordered(doc) if doc is not None else None, "ok": not problems, "problems": problems})


@routes.post("/api/admin/ivr/validate", summary="校验流程树（返回全部问题及其位置）", role=Role.ADMIN,
             request=DOC_BODY, response=PROBLEMS_SCHEMA, errors=(404,), query=TREE_QUERY)
async def admin_ivr_validate(request: web.Request) -> web.Response:
    tree_of(request)
    result = await asyncio.to_thread(request.app[IVR_ADMIN].check, body(request)["doc"])
    problems = [problem_view(p) for p in result.problems]
    return json_ok({"ok": not problems, "problems": problems})


@routes.post("/api/admin/ivr/simulate", summary="模拟来电（来电号码、被叫号码、时间、按键 → 经过的节点）",
             role=Role.ADMIN, request=SIM_BODY, response=SIM_SCHEMA, errors=(404,), query=TREE_QUERY)
async def admin_ivr_simulate(request: web.Request) -> web.Response:
    data, ivr, tree = body(request), request.app[IVR_ADMIN], tree_of(request)
    doc = data["doc"] if "doc" in data else await tree.versions.document(
        data.get("version") or await current_number(tree))
    result = await asyncio.to_thread(ivr.check, doc)
    if not result.ok:
        raise tree_invalid(list(result.problems))
    parsed = result.require()
    try:
        at = parse_at(data.get("at") or None, parsed.timezone)
        at.astimezone(dt.UTC)              # out of range for time zones: refused here
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_time", "时间格式不正确（例如 2026-12-01T10:00）") from None
    facts = facts_for(parsed, caller=data.get("caller") or None, did=data.get("did") or None, at=at,
                      lists=result.lists)
    try:
        sim = simulate(parsed, facts, data.get("keys", ""))
    except (EngineError, ValueError, OverflowError) as exc:
        raise ApiError(400, "simulation_failed", "模拟来电未能完成", {"detail": str(exc)}) from None
    out = sim.to_dict()
    out["at"] = at.isoformat()
    return json_ok(out)


@routes.put("/api/admin/ivr/draft", summary="保存草稿（有问题也保存；每个流程树各有草稿）", role=Role.ADMIN,
            request=DOC_BODY, response=PROBLEMS_SCHEMA, audit="ivr.draft.save", errors=(404,), query=TREE_QUERY)
async def admin_ivr_save_draft(request: web.Request) -> web.Response:
    problems = await tree_of(request).versions.save_draft(body(request)["doc"], current_user(request).username)
    views = [problem_view(p) for p in problems]
    return json_ok({"ok": not views, "problems": views})


@routes.get("/api/admin/ivr/draft", summary="读取草稿", role=Role.ADMIN, response=DRAFT_SCHEMA, errors=(404,),
            query=TREE_QUERY)
async def admin_ivr_get_draft(request: web.Request) -> web.Response:
    draft = await tree_of(request).versions.draft()
    if draft is None:
        raise ApiError(404, "no_draft", "没有保存的草稿")
    doc, problems = draft
    return json_ok({"doc": ordered(doc), "problems": [problem_view(p) for p in problems]})


@routes.post("/api/admin/ivr/publish", summary="发布流程树（附说明；有问题则拒绝并列出全部问题）", role=Role.ADMIN,
             status=201, request=PUBLISH_BODY, response=VERSION_SCHEMA, errors=(404, 409), query=TREE_QUERY)
async def admin_ivr_publish(request: web.Request) -> web.Response:
    return await publish_tree(request, tree_of(request), body(request))


@routes.get("/api/admin/ivr/versions", summary="版本历史", role=Role.ADMIN, response=HISTORY_SCHEMA, errors=(404,),
            query=TREE_QUERY)
async def admin_ivr_versions(request: web.Request) -> web.Response:
    versions = tree_of(request).versions
    current = await versions.current_number()
    history = [{**v.to_dict(), "current": v.number == current} for v in await versions.history()]
    return json_ok({"current": current, "versions": list(reversed(history))})


@routes.get("/api/admin/ivr/diff", summary="两个版本的语义差异（默认：上一版本 → 当前版本）", role=Role.ADMIN,
            response=DIFF_SCHEMA, errors=(404,),
            query={**TREE_QUERY, "from": {"type": "integer", "minimum": 1}, "to": {"type": "integer", "minimum": 1}})
async def admin_ivr_diff(request: web.Request) -> web.Response:
    q, ivr, tree = query(request), request.app[IVR_ADMIN], tree_of(request)
    to = q.get("to") or await current_number(tree)
    frm = q.get("from") or max(to - 1, 1)
    old, new = await tree.versions.document(frm), await tree.versions.document(to)
    diff = await asyncio.to_thread(_diff_docs, old, new, ivr.base)
    return json_ok({"from": frm, "to": to, "diff": diff, "summary": summarize(diff)})


@routes.post("/api/admin/ivr/diff", summary="编辑中的流程树与某版本（默认当前版本）的语义差异", role=Role.ADMIN,
             request=DIFF_BODY, response=DIFF_SCHEMA, errors=(404,), query=TREE_QUERY)
async def admin_ivr_diff_draft(request: web.Request) -> web.Response:
    data, ivr, tree = body(request), request.app[IVR_ADMIN], tree_of(request)
    frm = data.get("against") or await current_number(tree)
    old = await tree.versions.document(frm)
    diff = await asyncio.to_thread(_diff_docs, old, data["doc"], ivr.base)
    return json_ok({"from": frm, "to": None, "diff": diff, "summary": summarize(diff)})


@routes.post("/api/admin/ivr/rollback", summary="回滚到某个版本（作为新版本发布）", role=Role.ADMIN, status=201,
             request=ROLLBACK_BODY, response=VERSION_SCHEMA, errors=(404, 409), query=TREE_QUERY)
async def admin_ivr_rollback(request: web.Request) -> web.Response:
    data, tree = body(request), tree_of(request)
    before = await tree.versions.current_number()
    info = await tree.versions.rollback(data["version"], current_user(request).username,
                                        data.get("comment") or f"回滚到版本 {data['version']}")
    await _audit(request, "ivr.rollback", f"{tree.audit}:version:{info.number}",
                 {"tree": tree.name, "rollback_of": data["version"], "previous": before, "comment": info.comment})
    return json_ok({**info.to_dict(), "current": True}, status=201)

# -- prompts -----------------------------------------------------------------------


@routes.get("/api/admin/prompts", summary="提示音状态（是否已上传录音）", role=Role.ADMIN, response=PROMPT_SCHEMA,
            query={"text": _TEXT})
async def admin_prompt_status(request: web.Request) -> web.Response:
    text = _required_text(query(request))
    up = request.app[IVR_ADMIN].uploaded_file(text)
    return json_ok({"text": text, "uploaded": up is not None,
                    "duration_s": _wav_seconds(up) if up and up.suffix == ".wav" else None})


@routes.get("/api/admin/prompts/preview", summary="试听提示音（已上传的录音，或由文字合成的语音 WAV）",
            role=Role.ADMIN, content_type="audio/wav", errors=(503,),
            query={"text": _TEXT, "source": {"type": "string", "enum": ["auto", "tts"], "default": "auto"}})
async def admin_prompt_preview(request: web.Request) -> web.Response:
    q, ivr = query(request), request.app[IVR_ADMIN]
    text = _required_text(q)
    up = ivr.uploaded_file(text) if q["source"] == "auto" else None
    if up is not None and up.suffix == ".wav":
        wav, source = up, "upload"
    else:
        try:
            wav = (await ivr.resolver.tts.ensure_async(text)).with_suffix(".wav")
        except TTSError as exc:
            raise ApiError(503, "tts_failed", "语音合成失败", {"detail": exc.detail}) from None
        source = "tts"
    data = await asyncio.to_thread(wav.read_bytes)
    return web.Response(body=data, content_type="audio/wav",
                        headers={"X-Prompt-Source": source, "Cache-Control": "no-store"})


@routes.post("/api/admin/prompts/upload", summary="上传提示音录音（WAV，替换该文字的合成语音）", role=Role.ADMIN,
             status=201, request=UPLOAD_BODY, response=PROMPT_SCHEMA, errors=(503,))
async def admin_prompt_upload(request: web.Request) -> web.Response:
    data = body(request)
    _required_text(data)
    dest = request.app[IVR_ADMIN].resolver.upload_path(data["text"])
    if dest is None:
        raise ApiError(503, "uploads_unavailable", "未配置录音上传目录")
    try:
        audio = base64.b64decode(data["audio_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "audio_invalid", "录音内容不是有效的 base64") from None
    seconds = await asyncio.to_thread(convert_wav, audio, dest.with_suffix(".wav"))
    await _audit(request, "prompt.upload", f"prompt:{dest.name}",
                {"text": data["text"][:80], "bytes": len(audio), "seconds": round(seconds, 2)})
    return json_ok({"text": data["text"], "uploaded": True, "duration_s": round(seconds, 2)}, status=201)


@routes.delete("/api/admin/prompts/upload", summary="删除上传的录音（恢复合成语音）", role=Role.ADMIN, status=204,
               query={"text": _TEXT}, errors=(404,))
async def admin_prompt_delete_upload(request: web.Request) -> web.Response:
    text = _required_text(query(request))
    up = request.app[IVR_ADMIN].uploaded_file(text)
    if up is None:
        raise ApiError(404, "not_found", "该提示音没有上传的录音")
    up.unlink()
    await _audit(request, "prompt.upload_delete", f"prompt:{up.stem}", {"text": text[:80]})
    return web.Response(status=204)


@routes.get("/admin", summary="系统管理页面", role=Role.ADMIN, api=False, content_type="text/html")
async def admin_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "admin.html", headers={"Cache-Control": "no-store"})


def _required_text(q: dict[str, Any]) -> str:
    text = q.get("text")
    if not text or not text.strip():
        raise ApiError(400, "invalid_request", "请求内容有误", {"problems": [{"path": "text", "message": "缺少必填字段"}]})
    return text


def _diff_docs(old: Any, new: Any, base: Path) -> dict[str, Any]:
    a, b = load_data(old, base_dir=base), load_data(new, base_dir=base)
    if b.tree is None:
        raise tree_invalid(list(b.problems))
    if a.tree is None:
        raise tree_invalid(list(a.problems))
    return diff_trees(a.tree, b.tree)


__all__ = ["admin_ivr_routes", "publish_tree", "to_yaml", "tree_reply", "convert_wav"]
