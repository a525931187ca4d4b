"""The one HTTP error map: domain errors -> status, error id, zh-CN message, details.

Handlers let domain errors through; the error middleware (web.middleware)
asks `api_error` for the response of any exception it catches. A family is
an error class with its default rule and the rules of its error ids; the
first family the error belongs to answers (subclasses first). An error of
no family is not a refusal but a fault (500).

    FAMILIES = (Family(TransferError, Rule(409, "转接操作失败"), {"no_transfer": Rule(409, ...)}), ...)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.errors import AgentsError
from agents.transfer import TransferError
from ivr.config_files import ConfigFileError
from ivr.versions import VersionError
from tickets.model import TicketsError
from web.accounts import AccountError
from web.errors import ApiError
from web.problem_views import line_problem, problem_view
from web.reports import ReportError

Text = str | Callable[[Any], str] | None            # None: the error's own (zh-CN) message
Details = Callable[[Any], Mapping[str, Any]] | None  # None: the error's own details


@dataclass(frozen=True)
class Rule:
    status: int
    message: Text = None
    error_id: str | Callable[[str], str] | None = None   # None: the error's own id
    details: Details = None


@dataclass(frozen=True)
class Family:
    cls: type[Exception]
    default: Rule
    by_id: Mapping[str, Rule] = field(default_factory=dict)


def _problems(exc: Any) -> list[Any]:
    return list(exc.details.get("problems") or [])


def _version_detail(exc: Any) -> Mapping[str, Any]:
    return {"detail": str(exc)}


UNREADABLE = {"seats": "坐席配置文件无法读取", "calendar": "日历文件无法读取", "transfers": "转接号码文件无法读取"}
_TICKET_ID = Rule(400, "工单操作失败", lambda error_id: error_id.replace("tickets.", "ticket_"))


def _ticket(status: int, message: str) -> Rule:
    return Rule(status, message, _TICKET_ID.error_id)


def _not_found(what: str) -> Rule:
    """The generic not-found body (web.errors.not_found) of a named thing."""
    return Rule(404, "请求的资源不存在", "not_found", lambda exc: {"what": what, **exc.details})


FAMILIES: tuple[Family, ...] = (
    Family(TransferError, Rule(409, "转接操作失败"), {
        "unknown_transfer_target": Rule(404, "转接号码不存在"),
        "transfer_mode_not_allowed": Rule(400, "该号码不支持此转接方式"),
        "not_on_call": Rule(409, "坐席当前没有可操作的通话"),
        "transfer_in_progress": Rule(409, "该通话正在转接中"),
        "no_transfer": Rule(409, "该通话没有正在进行的转接"),
        "pbx_unavailable": Rule(503, "交换机暂不可用，请稍后再试"),
    }),
    Family(AgentsError, Rule(409, "坐席操作失败"), {
        "unknown_seat": Rule(404, "坐席不存在"),
        "unknown_operator": Rule(404, "话务员工号不存在"),
        "unknown_call": Rule(404, "通话不存在"),
        "unknown_lane": Rule(404, "队列不存在"),
        "unknown_pause_reason": Rule(400, "不能选择该暂停原因"),
        "not_logged_in": Rule(409, "坐席尚未登录"),
        "already_logged_in": Rule(409, "该话务员已登录其他坐席"),
        "seat_busy": Rule(409, "坐席已被占用或正在通话"),
        "invalid_transition": Rule(409, "坐席当前状态不允许此操作"),
        "call_state": Rule(409, "通话当前状态不允许此操作"),
        "number_refused": Rule(409, "转接操作失败"),        # only a transfer dials a number
    }),
    Family(TicketsError, _TICKET_ID, {
        "tickets.not_found": _ticket(404, "工单不存在"),
        "tickets.wrong_status": _ticket(409, "工单已确认，不能重复确认"),
        "tickets.invalid_fields": _ticket(400, "工单字段有误"),
        "tickets.operator_required": _ticket(400, "确认工单需要话务员工号"),
        "knowledge.invalid": Rule(400, "知识库条目有误", "knowledge_invalid"),
    }),
    Family(VersionError, Rule(409, "版本操作失败", details=_version_detail), {
        "tree_invalid": Rule(400, lambda exc: f"流程树有 {len(exc.problems)} 处问题，未发布",
                             details=lambda exc: {"problems": [problem_view(p) for p in exc.problems]}),
        "unchanged": Rule(409, "与当前版本相同，无需发布", details=_version_detail),
        "no_such_version": Rule(404, "版本不存在", details=_version_detail),
        "author_required": Rule(400, "发布需要署名", details=_version_detail),
    }),
    Family(ConfigFileError, Rule(400, "配置操作失败"), {
        "config_unreadable": Rule(503, lambda exc: UNREADABLE.get(exc.what, "配置文件无法读取")),
        "bad_path": Rule(400, "文件路径不在配置目录内"),
        "config_invalid": Rule(400, lambda exc: f"配置有 {len(_problems(exc))} 处问题，未保存"),
        "list_invalid": Rule(400, lambda exc: f"名单有 {len(exc.problems)} 行有误，未导入",
                             details=lambda exc: {"problems": [line_problem(p) for p in exc.problems],
                                                  "good": exc.good}),
        "list_empty": Rule(400, "名单中没有有效的号码，未导入",
                           details=lambda exc: {"problems": [line_problem(p) for p in exc.problems]}),
        "unknown_list": _not_found("list"),
        "unknown_calendar": _not_found("calendar"),
    }),
    Family(AccountError, Rule(400), {
        "unknown_user": Rule(404), "username_taken": Rule(409), "last_admin": Rule(409),
        "account_disabled": Rule(403), "bad_password": Rule(403),
    }),
    Family(ReportError, Rule(400)),
)


def api_error(exc: Exception) -> ApiError | None:
    """The HTTP refusal for an error; None when it is none of the mapped ones (a fault)."""
    if isinstance(exc, ApiError):
        return exc
    for family in FAMILIES:
        if isinstance(exc, family.cls):
            own_id: str = getattr(exc, "error_id", "error")
            rule = family.by_id.get(own_id, family.default)
            return ApiError(rule.status, _error_id(rule, own_id), _message(rule, exc),
                            rule.details(exc) if rule.details else getattr(exc, "details", {}))
    return None


def _error_id(rule: Rule, own: str) -> str:
    if rule.error_id is None:
        return own
    return rule.error_id if isinstance(rule.error_id, str) else rule.error_id(own)


def _message(rule: Rule, exc: Exception) -> str:
    if rule.message is None:
        return str(getattr(exc, "message", exc))
    return rule.message if isinstance(rule.message, str) else rule.message(exc)
