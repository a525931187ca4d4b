"""The admin-kept files the IVR tree refers to: calendar overrides (closures, special
hours, the official holiday and adjusted-working-day schedule) and the caller lists
(the deputies list, imported from CSV).

    files = IvrFiles(versions, base_dir)
    view = await files.calendars()              # the overrides file and the tree's calendars
    await files.save_overrides(items, cn_years)  # checked with the loader's readers, then written

Both are read when a tree version is loaded, so a change applies from the next
publish (``republish`` when the tree itself did not change). A file is named by
the current tree and must stay inside the configuration folder; every write is
checked with the readers the controller uses first and written atomically (the
previous content kept as ``.prev``, ivr.config_text.write_atomic). Refusals are
the `ConfigFileError`s below (the web layer maps them, web.error_map).
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ivr import calendar as cal
from ivr.config_text import block, flow, leading_comments, list_csv, write_atomic
from ivr.loader import load_data
from ivr.model import Calendar
from ivr.numbers import CallerList, decode_list_bytes, parse_caller_list
from ivr.problems import Problem
from ivr.versions import VersionError, VersionStore
from kernel.errors import DomainError


class ConfigFileError(DomainError):
    """Base of the refusals of the admin-kept configuration files."""

    error_id = "config_file_error"


class ConfigUnreadable(ConfigFileError):
    """A file (`what`: seats, calendar, transfers) exists but cannot be read or parsed."""

    error_id = "config_unreadable"

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"the {what} file cannot be read: {detail}", detail=detail)
        self.what = what


class OutsideConfigDir(ConfigFileError):
    error_id = "bad_path"


class ConfigProblems(ConfigFileError):
    """The new content has problems (all listed, as {path, message, ...}); nothing was written."""

    error_id = "config_invalid"

    def __init__(self, problems: Sequence[Any]) -> None:
        views = [p.to_dict() if isinstance(p, Problem) else p for p in problems]
        super().__init__(f"{len(views)} problem(s); not saved", problems=views)


class ListInvalid(ConfigFileError):
    """Lines of an imported caller list are wrong (and skipping them was not asked for)."""

    error_id = "list_invalid"

    def __init__(self, problems: Sequence[Problem], good: int) -> None:
        super().__init__(f"{len(problems)} bad line(s); not imported", good=good)
        self.problems = list(problems)
        self.good = good


class ListEmpty(ConfigFileError):
    error_id = "list_empty"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("no valid number; not imported")
        self.problems = list(problems)


class UnknownList(ConfigFileError):
    error_id = "unknown_list"


class UnknownCalendar(ConfigFileError):
    error_id = "unknown_calendar"


def relative(path: Path, base: Path) -> str:
    """A path as shown to the admin: relative to the configuration folder when inside it."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def plain(v: Any) -> Any:
    """YAML-loaded data with dates as ISO text (JSON-ready)."""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


OVERRIDE_KEYS = ("date", "closed", "hours", "calendars", "note")


class IvrFiles:
    """The calendar overrides and caller lists named by the current tree version."""

    def __init__(self, versions: VersionStore, base_dir: Path) -> None:
        self.versions = versions
        self.base = Path(base_dir).resolve()
        self.lock = asyncio.Lock()              # one writer of these files at a time (per process)

    async def current_doc(self) -> dict[str, Any]:
        """The current tree document ({} before the first publish)."""
        n = await self.versions.current_number()
        if n is None:
            return {}
        try:
            doc = await self.versions.document(n)
        except VersionError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def inside(self, rel: str) -> Path:
        p = (self.base / rel).resolve()
        if self.base not in p.parents:
            raise OutsideConfigDir(f"{rel!r} is outside the configuration folder", file=rel)
        return p

    def rel(self, path: Path) -> str:
        return relative(path, self.base)

    async def lanes(self) -> list[dict[str, Any]]:
        """The current tree's lanes: [{id, label}]."""
        lanes = (await self.current_doc()).get("lanes") or {}
        return [{"id": k, "label": (v or {}).get("label", k) if isinstance(v, dict) else k} for k, v in lanes.items()]

    # -- calendar overrides --------------------------------------------------------------
    async def overrides_path(self) -> Path:
        for c in ((await self.current_doc()).get("calendars") or {}).values():
            if isinstance(c, dict) and isinstance(c.get("overrides"), str):
                return self.inside(c["overrides"])
        return self.inside("calendars/overrides.yaml")

    @staticmethod
    def _read_overrides(path: Path) -> dict[str, Any]:
        if not path.exists():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigUnreadable("calendar", str(exc)) from None
        return data if isinstance(data, dict) else {}

    async def calendars(self) -> dict[str, Any]:
        """{file, calendars (the tree's), overrides, cn_years (the overrides file's)}."""
        path = await self.overrides_path()
        data = plain(await asyncio.to_thread(self._read_overrides, path))
        return {"file": self.rel(path), "calendars": (await self.current_doc()).get("calendars") or {},
                "overrides": data.get("overrides") or [], "cn_years": data.get("cn_years") or {}}

    async def save_overrides(self, overrides: list[dict[str, Any]],
                             cn_years: Mapping[Any, Mapping[str, Any]]) -> tuple[Path, list[dict[str, Any]], list[int]]:
        """Check (the loader's readers; calendars the tree knows) and write the overrides file:
        its path, the items and the years written."""
        problems: list[Problem] = []
        cal.parse_override_items(overrides, "overrides", problems, allow_calendars=True)
        cal.parse_cn_years(cn_years, "cn_years", problems)
        known = set((await self.current_doc()).get("calendars") or {})
        for i, item in enumerate(overrides):
            for name in item.get("calendars", []):
                if known and name not in known:
                    problems.append(Problem(f"overrides.{i}.calendars", "unknown_calendar", f"unknown calendar {name!r}"))
        if problems:
            raise ConfigProblems(problems)
        path = await self.overrides_path()
        async with self.lock:
            header = leading_comments(path.read_text(encoding="utf-8")) if path.exists() else ""
            items = [{k: item[k] for k in OVERRIDE_KEYS if k in item} for item in overrides]
            years = {int(y): dict(spec.items()) for y, spec in cn_years.items()}
            text = header + block("overrides", items) + "cn_years:" + (
                " {}\n" if not years else "\n" + "".join(f"  {y}: {flow(spec)}\n" for y, spec in sorted(years.items())))
            await asyncio.to_thread(write_atomic, path, text)
        return path, items, sorted(years)

    async def calendar(self, cal_id: str) -> Calendar:
        """A calendar of the current tree, as the controller loads it."""
        doc = await self.current_doc()
        result = await asyncio.to_thread(load_data, doc, base_dir=self.base) if doc else None
        if result is None or result.tree is None or cal_id not in result.tree.calendars:
            raise UnknownCalendar(f"no calendar {cal_id!r}", id=cal_id)
        return result.tree.calendars[cal_id]

    # -- caller lists ----------------------------------------------------------------------
    async def list_path(self, list_id: str) -> Path:
        ref = ((await self.current_doc()).get("lists") or {}).get(list_id)
        file = ref.get("file") if isinstance(ref, dict) else ref
        if not isinstance(file, str):
            raise UnknownList(f"no list {list_id!r}", id=list_id)
        return self.inside(file)

    async def read_list(self, list_id: str) -> tuple[Path, CallerList, list[Problem]]:
        path = await self.list_path(list_id)
        raw = await asyncio.to_thread(path.read_bytes) if path.exists() else b""
        caller_list, problems = parse_caller_list(decode_list_bytes(raw), list_id=list_id)
        return path, caller_list, list(problems)

    async def import_list(self, list_id: str, csv: str, *, skip_bad: bool) -> tuple[CallerList, list[Problem]]:
        """Replace a caller list with CSV text (its bad lines skipped when `skip_bad`)."""
        path = await self.list_path(list_id)
        caller_list, problems = parse_caller_list(csv, list_id=list_id)
        if problems and not skip_bad:
            raise ListInvalid(list(problems), good=len(caller_list.entries))
        if not caller_list.entries:
            raise ListEmpty(list(problems))
        async with self.lock:
            header = leading_comments(path.read_text(encoding="utf-8")) if path.exists() else ""
            text = list_csv(header, ((e.number, e.name, e.note) for e in caller_list.entries))
            await asyncio.to_thread(write_atomic, path, text)
        return caller_list, list(problems)
