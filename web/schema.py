"""A small JSON Schema (2020-12 subset) checker for request and response bodies.

Route metadata declares schemas as plain dicts; the same dicts go into the
OpenAPI document, so what is documented is what is enforced. Supported:
type (one or a list), properties, required, additionalProperties (bool or schema),
items, enum, const, minLength, maxLength, pattern, minimum, maximum,
minItems, maxItems. Anything else in a schema is documentation only.
"""
from __future__ import annotations

import functools
import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern:
    """A JSON Schema pattern (ECMA-262 semantics) as a Python regex.

    In ECMA-262 ``$`` matches only at the very end of the input, while Python's
    ``$`` also matches before a trailing newline: ``"110\\n"`` would pass
    ``^[0-9]+$``. Every unescaped ``$`` outside a character class becomes ``\\Z``.
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return re.compile("".join(out))


def _is(value: Any, typ: str) -> bool:
    if typ in ("integer", "number") and isinstance(value, bool):
        return False
    if typ == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[typ])


def check(value: Any, schema: dict[str, Any], path: str = "") -> list[dict[str, str]]:
    """Every problem of `value` against `schema`, as {"path", "message"} (zh-CN messages)."""
    out: list[dict[str, str]] = []
    _check(value, schema, path, out)
    return out


def _add(out: list, path: str, message: str) -> None:
    out.append({"path": path or "$", "message": message})


def _check(value: Any, schema: dict[str, Any], path: str, out: list) -> None:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in names):
            _add(out, path, f"类型应为 {'/'.join(names)}")
            return
    if "const" in schema and value != schema["const"]:
        _add(out, path, f"取值应为 {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        _add(out, path, "取值应为以下之一：" + "、".join(str(v) for v in schema["enum"]))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            _add(out, path, f"长度不能少于 {schema['minLength']} 个字符")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            _add(out, path, f"长度不能超过 {schema['maxLength']} 个字符")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            _add(out, path, "格式不正确")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            _add(out, path, f"不能小于 {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            _add(out, path, f"不能大于 {schema['maximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            _add(out, path, f"至少需要 {schema['minItems']} 项")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            _add(out, path, f"最多 {schema['maxItems']} 项")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], f"{path}[{i}]", out)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                _add(out, _join(path, name), "缺少必填字段")
        for name, item in value.items():
            if name in props:
                _check(item, props[name], _join(path, name), out)
            elif schema.get("additionalProperties") is False:
                _add(out, _join(path, name), "不支持的字段")
            elif isinstance(schema.get("additionalProperties"), dict):
                _check(item, schema["additionalProperties"], _join(path, name), out)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
