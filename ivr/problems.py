"""Problems found in an IVR tree document, and the errors that carry them.

A problem is data, not an exception: validation collects every one of them
and hands back the whole list. ``path`` names the place in the document
(``nodes.main_menu.options.2``), ``code`` is a stable machine id (the web
editor and tests key on it) and ``message`` is for people.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernel.errors import DomainError

# Stable problem codes.
SYNTAX = "syntax"                  # the text is not YAML/JSON
TOO_LARGE = "too_large"            # the document is over the size limit
UNREADABLE = "unreadable"          # a file could not be read
TYPE = "type"                      # wrong type (string where a mapping was needed...)
MISSING = "missing"                # a required field is absent
UNKNOWN_FIELD = "unknown_field"    # a field the format does not know
RANGE = "range"                    # a number out of its allowed range
PATTERN = "pattern"                # a string that does not match its format, or a bad regex
ENUM = "enum"                      # a value outside a fixed set
VERSION = "version"                # unsupported format version
DUPLICATE_KEY = "duplicate_key"    # a mapping key given twice (e.g. a DTMF key)
INVALID_DTMF = "invalid_dtmf"      # a DTMF key with characters other than 0-9 * #
UNKNOWN_NODE = "unknown_node"      # a reference to a node that does not exist
UNKNOWN_LANE = "unknown_lane"
UNKNOWN_LIST = "unknown_list"
UNKNOWN_CALENDAR = "unknown_calendar"
UNREACHABLE = "unreachable"        # a node no call can reach from the entry
DEAD_END = "dead_end"              # a call could end here without queue/transfer/hangup
LOOP = "loop"                      # a cycle from which no terminal node is reachable
FILE_NOT_FOUND = "file_not_found"  # a prompt audio file, list or overrides file is missing
OUTSIDE_ROOT = "outside_root"      # a file path that is absolute or leaves the config folder
LIST_LINE = "list_line"            # a line of a caller list does not parse
CALENDAR = "calendar"              # bad opening hours, dates or overrides


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a document: where, what kind, and a message for people."""

    path: str
    code: str
    message: str
    line: int | None = None  # 1-based line in the YAML document, when known

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path or '<document>'}: {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.line:
            out["line"] = self.line
        return out


def join(path: str, key: Any) -> str:
    """Extend a dotted document path by one key."""
    return f"{path}.{key}" if path else str(key)


class IvrError(DomainError):
    """Base of the IVR package's errors: an error id and structured details."""

    error_id = "ivr_error"


class TreeInvalid(IvrError):
    """Raised by callers that need a valid tree and got problems instead."""

    error_id = "tree_invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        probs = tuple(problems)
        first = str(probs[0]) if probs else "invalid tree"
        more = f" (and {len(probs) - 1} more)" if len(probs) > 1 else ""
        IvrError.__init__(self, first + more, problems=[p.to_dict() for p in probs])
        self.problems = probs
