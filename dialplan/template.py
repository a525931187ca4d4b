"""Fill {{name}} placeholders in Asterisk config templates (pure).

Asterisk's own ${VAR} syntax is left alone; every placeholder must be given a
value and every problem is reported at once.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from kernel.errors import HotlineError

_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


class TemplateError(HotlineError, ValueError):
    """Placeholders without a value; `.missing` lists them all."""

    error_id = "dialplan.template"

    def __init__(self, name: str, missing: list[str]) -> None:
        super().__init__(f"{name}: no value for {', '.join(missing)}")
        self.template = name
        self.missing = missing


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def fill(text: str, values: Mapping[str, object], name: str = "template") -> str:
    missing = sorted(placeholders(text) - values.keys())
    if missing:
        raise TemplateError(name, missing)
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
