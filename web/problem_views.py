"""Problems as the admin page shows them: the English message kept for the detail,
zh-CN words for people, and where the problem is (the tree's node, the list's line).
Used by the handlers and by the error map (web.error_map) alike."""
from __future__ import annotations

import re
from typing import Any

from ivr.problems import Problem

# Problem code -> zh-CN words for the page (the English message keeps the detail).
PROBLEM_TEXT = {
    "syntax": "语法错误", "too_large": "文档过大", "unreadable": "文件无法读取", "type": "类型错误",
    "missing": "缺少必填项", "unknown_field": "不支持的字段", "range": "数值超出范围", "pattern": "格式不正确",
    "enum": "取值不在允许范围内", "version": "不支持的格式版本", "duplicate_key": "按键或名称重复",
    "invalid_dtmf": "按键无效（只能用 0-9、* 和 #）", "unknown_node": "指向不存在的节点",
    "unknown_lane": "队列不存在", "unknown_list": "号码名单不存在", "unknown_calendar": "工作日历不存在",
    "unreachable": "节点无法到达", "dead_end": "来电会在此中断（缺少下一步）", "loop": "存在无法退出的循环",
    "file_not_found": "文件不存在", "list_line": "名单行有误", "calendar": "日历设置有误",
    "outside_root": "文件路径须为配置目录内的相对路径",
}


def node_of(path: str) -> str | None:
    """The node a problem path points into (``nodes.menu.options.5`` -> ``menu``)."""
    parts = path.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "nodes" else None


def problem_view(p: Problem | dict[str, Any]) -> dict[str, Any]:
    d = p.to_dict() if isinstance(p, Problem) else dict(p)
    d["node"] = node_of(d.get("path", ""))
    d["text"] = PROBLEM_TEXT.get(d.get("code", ""), "有误")
    return d


_LINE = re.compile(r"\.line\.(\d+)$")


def line_problem(p: Problem) -> dict[str, Any]:
    """A caller-list problem for the admin: {line, message, text (zh-CN)}."""
    m = _LINE.search(p.path)
    message = re.sub(r"^line \d+: ", "", p.message)
    if message == "no number":
        text = "缺少号码"
    elif "header" in message:
        text = "表头缺少号码列"
    elif p.code == "list_line" and "number" not in message.lower() and "digit" not in message.lower():
        text = "CSV 格式有误"
    else:
        text = "号码格式不正确"
    return {"line": int(m.group(1)) if m else None, "message": message, "text": text}
