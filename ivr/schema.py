"""Plain document data -> model objects, collecting every schema problem on the way.

``build(data)`` never raises on bad input: it records a Problem for each bad
field and puts a harmless placeholder in its place, so the graph checks in
ivr.validate can still run over the rest of the tree and report their own
problems in the same pass.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr import calendar as cal
from ivr.model import (
    DEFAULT_DESCRIBE_PROMPT,
    DEFAULT_TIMEZONE,
    DTMF_KEYS,
    FORMAT_VERSION,
    NODE_CLASSES,
    Calendar,
    CallerCheck,
    CallerCheckNode,
    CollectNode,
    DayOverride,
    Defaults,
    DescribeNode,
    DescribeSpec,
    HangupNode,
    Lane,
    ListRef,
    MenuNode,
    Node,
    Overflow,
    PlayNode,
    Prompt,
    QueueNode,
    RepeatRule,
    ScheduleNode,
    SurveyNode,
    TransferNode,
    Tree,
    frozen_map,
)
from ivr.problems import (
    DUPLICATE_KEY,
    ENUM,
    INVALID_DTMF,
    MISSING,
    PATTERN,
    RANGE,
    TYPE,
    UNKNOWN_FIELD,
    VERSION,
    Problem,
    join,
)

ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
NUMBER_RE = re.compile(r"^\+?[0-9*#]{2,24}$")
DEFAULT_SURVEY_CHOICES = {"1": "满意", "2": "基本满意", "3": "不满意"}

# (lo, hi) for the numbers a document may set
RANGES = {
    "timeout_s": (1, 30), "retries": (0, 5), "menu.max_digits": (1, 10),
    "collect.max_digits": (1, 32), "describe.max_s": (5, 300), "silence_s": (1, 15),
    "announce_every_s": (0, 600), "callback_after_s": (10, 3600), "ring_s": (5, 120),
    "priority": (0, 9), "overflow.after_s": (5, 3600), "repeat.within_days": (1, 365),
    "repeat.min_calls": (1, 1000),
}


@dataclass
class Built:
    """The result of building: a tree (possibly with placeholders) and the problems found."""

    tree: Tree | None
    problems: list[Problem] = field(default_factory=list)
    node_ids: tuple[str, ...] = ()  # every node id the document declares (even broken ones), in order


class _Reader:
    """Typed access to one mapping of the document, reporting problems at their paths."""

    def __init__(self, data: Any, path: str, problems: list[Problem], allowed: Iterable[str],
                 what: str) -> None:
        self.path, self.problems = path, problems
        if not isinstance(data, Mapping):
            problems.append(Problem(path, TYPE, f"{what} must be a mapping, not {_kind(data)}"))
            data = {}
        self.data = data
        allowed = set(allowed)
        for key in data:
            if str(key) not in allowed:
                problems.append(Problem(join(path, key), UNKNOWN_FIELD,
                                        f"unknown field {str(key)!r} for {what} (allowed: "
                                        f"{', '.join(sorted(allowed))})"))

    def p(self, name: str) -> str:
        return join(self.path, name)

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def missing(self, name: str) -> None:
        self.problems.append(Problem(self.p(name), MISSING, f"missing required field {name!r}"))

    def string(self, name: str, *, required: bool = False, default: str | None = None,
            regex: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        if not self.has(name):
            if required:
                self.missing(name)
            return default
        v = self.data[name]
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            self.problems.append(Problem(self.p(name), TYPE, f"{name} must be a string, not {_kind(v)}"))
            return default
        v = str(v)
        if regex is not None and not regex.fullmatch(v):
            self.problems.append(Problem(self.p(name), PATTERN, f"{v!r} is not a valid {hint or name}"))
            return default
        return v

    def integer(self, name: str, key: str, default: int | None, *, required: bool = False) -> int | None:
        if not self.has(name):
            if required:
                self.missing(name)
            return default
        v = self.data[name]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            self.problems.append(Problem(self.p(name), TYPE, f"{name} must be a whole number, not {_kind(v)}"))
            return default
        lo, hi = RANGES[key]
        if not lo <= v <= hi:
            self.problems.append(Problem(self.p(name), RANGE, f"{name} {v} is out of range {lo}..{hi}"))
            return default
        return v

    def boolean(self, name: str, default: bool) -> bool:
        if not self.has(name):
            return default
        v = self.data[name]
        if not isinstance(v, bool):
            self.problems.append(Problem(self.p(name), TYPE, f"{name} must be true or false"))
            return default
        return v

    def enum(self, name: str, choices: tuple[str, ...], default: str) -> str:
        if not self.has(name):
            return default
        v = self.data[name]
        if v not in choices:
            self.problems.append(Problem(self.p(name), ENUM, f"{name} must be one of {', '.join(choices)}"))
            return default
        return str(v)                # one of the choices

    def ref(self, name: str, *, required: bool = False) -> str | None:
        """A reference to a node, lane, list or calendar (existence is checked later)."""
        return self.string(name, required=required, regex=ID_RE, hint="id")

    def prompt(self, name: str) -> Prompt | None:
        if not self.has(name):
            return None
        return parse_prompt(self.data[name], self.p(name), self.problems)

    def required_prompt(self, name: str) -> Prompt:
        """The prompt, or (a problem, and) an empty one when it is missing."""
        got = self.prompt(name)
        if got is None:
            self.missing(name)
            return Prompt(text="")
        return got


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(v), type(v).__name__)


def parse_prompt(value: Any, path: str, problems: list[Problem]) -> Prompt:
    if isinstance(value, str):  # shorthand: a bare string is spoken text
        value = {"text": value}
    r = _Reader(value, path, problems, ("text", "file"), "a prompt")
    text, file = r.string("text"), r.string("file")
    if isinstance(value, Mapping) and value.get("text") is None and value.get("file") is None:
        problems.append(Problem(path, MISSING, "a prompt needs text or file"))
    if text is not None and not text.strip():
        problems.append(Problem(join(path, "text"), PATTERN, "prompt text is empty"))
    return Prompt(text=text, file=file)


# ---------------------------------------------------------------- nodes

_COMMON = ("type", "label")
_RETRY_PROMPTS = ("invalid_prompt", "timeout_prompt")


def _play(r: _Reader, nid: str, d: Defaults) -> PlayNode:
    return PlayNode(id=nid, label=r.string("label", default="") or "",
                    prompt=r.required_prompt("prompt"), next=r.ref("next"))


def _keys_ok(key: str, path: str, problems: list[Problem]) -> bool:
    if not key or any(ch not in DTMF_KEYS for ch in key):
        problems.append(Problem(path, INVALID_DTMF, f"invalid DTMF key {key!r} (use 0-9, * and #)"))
        return False
    return True


def _menu(r: _Reader, nid: str, d: Defaults) -> MenuNode:
    options: dict[str, str] = {}
    opath = r.p("options")
    raw = r.data.get("options")
    if raw is None:
        r.missing("options")
    elif not isinstance(raw, Mapping):
        r.problems.append(Problem(opath, TYPE, "options must map DTMF keys to node ids"))
    else:
        if not raw:
            r.problems.append(Problem(opath, MISSING, "a menu needs at least one option"))
        for k, target in raw.items():
            key, kp = str(k), join(opath, k)
            if key in options:
                r.problems.append(Problem(kp, DUPLICATE_KEY, f"DTMF key {key!r} is given more than once"))
                continue
            if not _keys_ok(key, kp, r.problems):
                continue
            if not isinstance(target, str) or not ID_RE.fullmatch(target):
                r.problems.append(Problem(kp, TYPE, "an option must name a node"))
                continue
            options[key] = target
    longest = max((len(k) for k in options), default=1)
    max_digits = r.integer("max_digits", "menu.max_digits", longest) or longest
    for k in options:
        if len(k) > max_digits:
            r.problems.append(Problem(join(opath, k), RANGE, f"key {k!r} is longer than max_digits {max_digits}"))
    on_timeout = r.ref("on_timeout")
    return MenuNode(
        id=nid, label=r.string("label", default="") or "", prompt=r.required_prompt("prompt"),
        options=frozen_map(options), timeout_s=r.integer("timeout_s", "timeout_s", 5) or 5,
        retries=_int0(r.integer("retries", "retries", 2), 2), max_digits=max_digits,
        timeout_retries=r.integer("timeout_retries", "retries", None),
        on_timeout=on_timeout, on_invalid=r.ref("on_invalid") or on_timeout,
        invalid_prompt=r.prompt("invalid_prompt") or d.invalid_prompt,
        timeout_prompt=r.prompt("timeout_prompt") or d.timeout_prompt,
    )


def _int0(v: int | None, default: int) -> int:
    return default if v is None else v


def _collect(r: _Reader, nid: str, d: Defaults) -> CollectNode:
    pattern = r.string("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            r.problems.append(Problem(r.p("pattern"), PATTERN, f"bad regular expression: {exc}"))
            pattern = None
    terminator = r.string("terminator", default="#")
    if terminator not in ("", "#", "*"):
        r.problems.append(Problem(r.p("terminator"), INVALID_DTMF, "terminator must be '#', '*' or empty"))
        terminator = "#"
    return CollectNode(
        id=nid, label=r.string("label", default="") or "", prompt=r.required_prompt("prompt"),
        var=r.string("var", required=True, regex=VAR_RE, hint="variable name") or "_",
        pattern=pattern, max_digits=r.integer("max_digits", "collect.max_digits", 20) or 20,
        terminator=terminator or "", timeout_s=r.integer("timeout_s", "timeout_s", 8) or 8,
        retries=_int0(r.integer("retries", "retries", 2), 2), next=r.ref("next"), on_fail=r.ref("on_fail"),
        invalid_prompt=r.prompt("invalid_prompt") or d.invalid_prompt,
        timeout_prompt=r.prompt("timeout_prompt") or d.timeout_prompt,
    )


_CHECK_CONDITIONS = ("in_list", "did", "prefix", "repeat", "anonymous")


def _str_list(r: _Reader, name: str, regex: re.Pattern[str]) -> tuple[str, ...]:
    if not r.has(name):
        return ()
    v = r.data[name]
    items = v if isinstance(v, list) else [v]
    out = []
    for i, item in enumerate(items):
        p = join(r.p(name), i) if isinstance(v, list) else r.p(name)
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not regex.fullmatch(str(item)):
            r.problems.append(Problem(p, PATTERN, f"{item!r} is not a valid {name}"))
            continue
        out.append(str(item))
    return tuple(out)


def _caller_check(r: _Reader, nid: str, d: Defaults) -> CallerCheckNode:
    checks: list[CallerCheck] = []
    raw = r.data.get("checks")
    cpath = r.p("checks")
    if raw is None:
        r.missing("checks")
    elif not isinstance(raw, list):
        r.problems.append(Problem(cpath, TYPE, "checks must be a list"))
    else:
        for i, item in enumerate(raw):
            c = _Reader(item, join(cpath, i), r.problems, ("goto",) + _CHECK_CONDITIONS, "a check")
            if not any(c.has(k) for k in _CHECK_CONDITIONS):
                r.problems.append(Problem(join(cpath, i), MISSING,
                                          f"a check needs a condition ({', '.join(_CHECK_CONDITIONS)})"))
            repeat = None
            if c.has("repeat"):
                rr = _Reader(c.data["repeat"], c.p("repeat"), r.problems, ("within_days", "min_calls"), "repeat")
                repeat = RepeatRule(rr.integer("within_days", "repeat.within_days", 30, required=True) or 30,
                                    rr.integer("min_calls", "repeat.min_calls", 2, required=True) or 2)
            anonymous = c.boolean("anonymous", False) if c.has("anonymous") else None
            checks.append(CallerCheck(
                goto=c.ref("goto", required=True), in_list=c.ref("in_list"),
                did=_str_list(c, "did", re.compile(r"^\+?[0-9]{2,24}$")),
                prefix=_str_list(c, "prefix", re.compile(r"^\+?[0-9]{1,24}$")),
                repeat=repeat, anonymous=anonymous,
            ))
    return CallerCheckNode(id=nid, label=r.string("label", default="") or "", checks=tuple(checks),
                           default=r.ref("default"))


def _schedule(r: _Reader, nid: str, d: Defaults) -> ScheduleNode:
    return ScheduleNode(id=nid, label=r.string("label", default="") or "",
                        calendar=r.ref("calendar", required=True) or "", open=r.ref("open"),
                        closed=r.ref("closed"))


def _describe(r: _Reader, nid: str, d: Defaults) -> DescribeNode:
    return DescribeNode(id=nid, label=r.string("label", default="") or "",
                        prompt=r.required_prompt("prompt"),
                        max_s=r.integer("max_s", "describe.max_s", 30) or 30,
                        silence_s=r.integer("silence_s", "silence_s", 3) or 3,
                        beep=r.boolean("beep", True), next=r.ref("next"))


def _queue(r: _Reader, nid: str, d: Defaults) -> QueueNode:
    describe = None
    if r.has("describe"):
        v = r.data["describe"]
        if isinstance(v, bool):
            describe = DescribeSpec() if v else None
        else:
            dr = _Reader(v, r.p("describe"), r.problems, ("prompt", "max_s", "silence_s"),
                         "describe (true, false or {prompt, max_s, silence_s})")
            describe = DescribeSpec(dr.prompt("prompt") or DEFAULT_DESCRIBE_PROMPT, dr.integer("max_s", "describe.max_s", 30) or 30,
                                    dr.integer("silence_s", "silence_s", 3) or 3)
    return QueueNode(
        id=nid, label=r.string("label", default="") or "", lane=r.ref("lane", required=True) or "",
        describe=describe, prompt=r.prompt("prompt"), moh=r.string("moh", default="default") or "default",
        announce_every_s=_int0(r.integer("announce_every_s", "announce_every_s", 45), 45),
        announce_position=r.boolean("announce_position", True), announce_wait=r.boolean("announce_wait", True),
        callback_after_s=r.integer("callback_after_s", "callback_after_s", None),
        after=r.ref("after"), on_fail=r.ref("on_fail"),
    )


def _transfer(r: _Reader, nid: str, d: Defaults) -> TransferNode:
    return TransferNode(id=nid, label=r.string("label", default="") or "",
                        number=r.string("number", required=True, regex=NUMBER_RE, hint="number to dial") or "",
                        mode=r.enum("mode", ("blind", "attended"), "blind"), prompt=r.prompt("prompt"),
                        ring_s=r.integer("ring_s", "ring_s", 30) or 30, on_fail=r.ref("on_fail"))


def _survey(r: _Reader, nid: str, d: Defaults) -> SurveyNode:
    choices: dict[str, str] = {}
    raw = r.data.get("choices", DEFAULT_SURVEY_CHOICES)
    cp = r.p("choices")
    if isinstance(raw, list):
        raw = {str(k): str(k) for k in raw}
    if not isinstance(raw, Mapping) or not raw:
        r.problems.append(Problem(cp, TYPE, "choices must map keys to their meaning"))
    else:
        for k, meaning in raw.items():
            key = str(k)
            if key in choices:
                r.problems.append(Problem(join(cp, k), DUPLICATE_KEY, f"key {key!r} is given more than once"))
            elif _keys_ok(key, join(cp, k), r.problems):
                if len(key) != 1:
                    r.problems.append(Problem(join(cp, k), INVALID_DTMF, "a survey choice is one key"))
                else:
                    choices[key] = str(meaning)
    return SurveyNode(
        id=nid, label=r.string("label", default="") or "", prompt=r.required_prompt("prompt"),
        choices=frozen_map(choices), var=r.string("var", default="rating", regex=VAR_RE, hint="variable name") or "rating",
        timeout_s=r.integer("timeout_s", "timeout_s", 6) or 6, retries=_int0(r.integer("retries", "retries", 1), 1),
        next=r.ref("next"),
        invalid_prompt=r.prompt("invalid_prompt") or d.invalid_prompt,
        timeout_prompt=r.prompt("timeout_prompt") or d.timeout_prompt,
    )


def _hangup(r: _Reader, nid: str, d: Defaults) -> HangupNode:
    return HangupNode(id=nid, label=r.string("label", default="") or "", prompt=r.prompt("prompt"))


_NODE_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[_Reader, str, Defaults], Node]]] = {
    "play": (("prompt", "next"), _play),
    "menu": (("prompt", "options", "timeout_s", "retries", "timeout_retries", "max_digits", "on_timeout", "on_invalid")
             + _RETRY_PROMPTS, _menu),
    "collect": (("prompt", "var", "pattern", "max_digits", "terminator", "timeout_s", "retries",
                 "next", "on_fail") + _RETRY_PROMPTS, _collect),
    "caller_check": (("checks", "default"), _caller_check),
    "schedule": (("calendar", "open", "closed"), _schedule),
    "describe": (("prompt", "max_s", "silence_s", "beep", "next"), _describe),
    "queue": (("lane", "describe", "prompt", "moh", "announce_every_s", "announce_position",
               "announce_wait", "callback_after_s", "after", "on_fail"), _queue),
    "transfer": (("number", "mode", "prompt", "ring_s", "on_fail"), _transfer),
    "survey": (("prompt", "choices", "var", "timeout_s", "retries", "next") + _RETRY_PROMPTS, _survey),
    "hangup": (("prompt",), _hangup),
}
assert set(_NODE_FIELDS) == set(NODE_CLASSES)


def build_node(node_id: str, data: Any, path: str, problems: list[Problem], defaults: Defaults) -> Node | None:
    """One node's data -> a node object, or None when its type is unusable."""
    if not isinstance(data, Mapping):
        problems.append(Problem(path, TYPE, f"a node must be a mapping, not {_kind(data)}"))
        return None
    t = data.get("type")
    if t is None:
        problems.append(Problem(join(path, "type"), MISSING, "missing required field 'type'"))
        return None
    if t not in _NODE_FIELDS:
        problems.append(Problem(join(path, "type"), ENUM, f"unknown node type {t!r} "
                                                          f"(one of {', '.join(_NODE_FIELDS)})"))
        return None
    allowed, fn = _NODE_FIELDS[t]
    return fn(_Reader(data, path, problems, _COMMON + allowed, f"a {t} node"), node_id, defaults)


# ---------------------------------------------------------------- tree sections


def _lanes(data: Any, problems: list[Problem]) -> dict[str, Lane]:
    out: dict[str, Lane] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        problems.append(Problem("lanes", TYPE, "lanes must be a mapping of lane ids"))
        return out
    for lid, spec in data.items():
        path = join("lanes", lid)
        if not ID_RE.fullmatch(str(lid)):
            problems.append(Problem(path, PATTERN, f"{lid!r} is not a valid id"))
            continue
        r = _Reader(spec, path, problems, ("label", "priority", "overflow", "skills", "description"), "a lane")
        overflow = None
        if r.has("overflow"):
            o = _Reader(r.data["overflow"], r.p("overflow"), problems, ("after_s", "to"), "overflow")
            overflow = Overflow(o.integer("after_s", "overflow.after_s", 60, required=True) or 60,
                                o.ref("to", required=True) or "")
        out[str(lid)] = Lane(id=str(lid), label=r.string("label", required=True) or str(lid),
                             priority=_int0(r.integer("priority", "priority", 1), 1), overflow=overflow,
                             skills=_str_list(r, "skills", ID_RE),
                             description=r.string("description", default="") or "")
    return out


def _lists(data: Any, problems: list[Problem]) -> dict[str, ListRef]:
    out: dict[str, ListRef] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        problems.append(Problem("lists", TYPE, "lists must map list ids to files"))
        return out
    for lid, spec in data.items():
        path = join("lists", lid)
        if not ID_RE.fullmatch(str(lid)):
            problems.append(Problem(path, PATTERN, f"{lid!r} is not a valid id"))
            continue
        if isinstance(spec, str):
            spec = {"file": spec}
        r = _Reader(spec, path, problems, ("file", "description"), "a list")
        out[str(lid)] = ListRef(str(lid), r.string("file", required=True) or "",
                                r.string("description", default="") or "")
    return out


def _calendars(data: Any, problems: list[Problem], tz: str) -> dict[str, Calendar]:
    out: dict[str, Calendar] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        problems.append(Problem("calendars", TYPE, "calendars must be a mapping of calendar ids"))
        return out
    for cid, spec in data.items():
        path = join("calendars", cid)
        if not ID_RE.fullmatch(str(cid)):
            problems.append(Problem(path, PATTERN, f"{cid!r} is not a valid id"))
            continue
        r = _Reader(spec, path, problems, ("weekly", "holidays", "workday_hours", "overrides",
                                           "cn_years", "timezone", "description"), "a calendar")
        if not r.has("weekly"):
            r.missing("weekly")
        weekly = cal.parse_weekly(r.data.get("weekly") or {}, r.p("weekly"), problems)
        holidays = r.data.get("holidays")
        if holidays in ("none", False):
            holidays = None
        if holidays not in (None, "cn"):
            problems.append(Problem(r.p("holidays"), ENUM, "holidays must be 'cn' or none"))
            holidays = None
        workday = (cal.parse_intervals(r.data["workday_hours"], r.p("workday_hours"), problems)
                   if r.has("workday_hours") else None)
        overrides: tuple[DayOverride, ...] = ()
        ofile: str | None = None
        if r.has("overrides"):
            ov = r.data["overrides"]
            if isinstance(ov, str):
                ofile = ov
            else:
                overrides = tuple(e.day for e in cal.parse_override_items(ov, r.p("overrides"), problems,
                                                                          allow_calendars=False))
        ctz = r.string("timezone", default=tz) or tz
        if r.has("timezone"):
            cal.check_zone(ctz, r.p("timezone"), problems)
        out[str(cid)] = Calendar(id=str(cid), weekly=weekly, holidays=holidays, workday_hours=workday,
                                 overrides=overrides, overrides_file=ofile,
                                 cn_years=cal.parse_cn_years(r.data.get("cn_years"), r.p("cn_years"), problems),
                                 timezone=ctz)
    return out


TOP_FIELDS = ("version", "name", "description", "entry", "timezone", "defaults", "lanes", "lists",
              "calendars", "nodes")


def build(data: Any) -> Built:
    """Document data -> Built(tree with placeholders where fields were bad, every schema problem)."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        problems.append(Problem("", TYPE, f"a tree document must be a mapping, not {_kind(data)}"))
        return Built(None, problems)
    r = _Reader(data, "", problems, TOP_FIELDS, "the tree")
    version = data.get("version")
    if version is None:
        r.missing("version")
    elif version != FORMAT_VERSION or isinstance(version, bool):
        problems.append(Problem("version", VERSION, f"unsupported format version {version!r} "
                                                    f"(this build reads version {FORMAT_VERSION})"))
    name = r.string("name", required=True) or ""
    entry = r.ref("entry", required=True) or ""
    tz = r.string("timezone", default=DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE
    if r.has("timezone") and not cal.check_zone(tz, "timezone", problems):
        tz = DEFAULT_TIMEZONE
    dr = _Reader(data.get("defaults") or {}, "defaults", problems, _RETRY_PROMPTS, "defaults")
    defaults = Defaults(dr.prompt("invalid_prompt"), dr.prompt("timeout_prompt"))
    lanes = _lanes(data.get("lanes"), problems)
    lists = _lists(data.get("lists"), problems)
    calendars = _calendars(data.get("calendars"), problems, tz)

    nodes: dict[str, Any] = {}
    ids: list[str] = []
    raw_nodes = data.get("nodes")
    if raw_nodes is None:
        r.missing("nodes")
    elif not isinstance(raw_nodes, Mapping) or not raw_nodes:
        problems.append(Problem("nodes", TYPE, "nodes must be a non-empty mapping of node ids"))
    else:
        for nid, spec in raw_nodes.items():
            path = join("nodes", nid)
            if not ID_RE.fullmatch(str(nid)):
                problems.append(Problem(path, PATTERN, f"{nid!r} is not a valid node id "
                                                       "(letters, digits, _ and -; not starting with a digit)"))
                continue
            ids.append(str(nid))
            node = build_node(str(nid), spec, path, problems, defaults)
            if node is not None:
                nodes[str(nid)] = node
    tree = Tree(version=FORMAT_VERSION, name=name, entry=entry, nodes=frozen_map(nodes),
                lanes=frozen_map(lanes), lists=frozen_map(lists), calendars=frozen_map(calendars),
                defaults=defaults, timezone=tz, description=r.string("description", default="") or "")
    return Built(tree, problems, tuple(ids))
