"""Writing the admin-kept configuration files safely (no I/O beyond the file named).

- `replace_blocks` swaps top-level YAML blocks (``seats:``, ``operators:``) in
  a file's text and leaves everything else, comments included, as it was;
- `write_atomic` writes a temporary file and renames it over the old one,
  keeping the previous content as ``<name>.prev`` (nothing is lost);
- `list_csv` renders a caller list back to CSV.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


def flow(value: Any) -> str:
    """One YAML flow-style line (ids stay quoted strings)."""
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, sort_keys=False, width=10_000).strip()


def block(key: str, items: Iterable[Any]) -> str:
    lines = [f"{key}:"]
    items = list(items)
    if not items:
        return f"{key}: []\n"
    lines += [f"  - {flow(item)}" for item in items]
    return "\n".join(lines) + "\n"


def replace_blocks(text: str, blocks: Mapping[str, str]) -> str:
    """``text`` with each top-level ``key:`` block replaced by ``blocks[key]`` (appended when absent).

    A block runs from its key line to the last non-blank, non-comment line
    before the next top-level key, so comments above the next key stay.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for key, new in blocks.items():
        starts = [i for i, ln in enumerate(lines) if (m := _TOP_KEY.match(ln)) and m.group(1) == key]
        if not starts:
            if lines and lines[-1].strip():
                lines.append("\n")
            lines.append(new)
            lines = "".join(lines).splitlines(keepends=True)
            continue
        start = starts[0]
        end = next((i for i in range(start + 1, len(lines)) if _TOP_KEY.match(lines[i])), len(lines))
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        lines[start:end] = new.splitlines(keepends=True)
    return "".join(lines)


def leading_comments(text: str) -> str:
    """The comment lines (and blank lines) at the top of a file."""
    out = []
    for ln in text.splitlines(keepends=True):
        if ln.strip() and not ln.lstrip().startswith("#"):
            break
        out.append(ln)
    return "".join(out)


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if path.exists():
            # the backup is as private as the original (at most 0640), never umask's 0644
            prev = path.with_name(path.name + ".prev")
            mode = path.stat().st_mode & 0o640
            pfd = os.open(prev, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
            with os.fdopen(pfd, "wb") as fh:
                os.fchmod(fh.fileno(), mode)       # an existing .prev keeps its mode on O_CREAT
                fh.write(path.read_bytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\n\r') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def list_csv(header: str, rows: Iterable[tuple[str, str, str]]) -> str:
    out = [header.rstrip("\n") + "\n" if header else "", "number,name,note\n"]
    out += [",".join(_csv_cell(c) for c in row) + "\n" for row in rows]
    return "".join(out)
