"""The IVR tree as frozen, typed objects (built from a document by ivr.schema).

Everything here is data: no I/O, no behaviour beyond small helpers. Mappings
are read-only views; sequences are tuples. Defaults that a document may leave
out are already filled in (from the node, then the tree's ``defaults``, then
the built-in values below), so the engine never guesses.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, Union

FORMAT_VERSION = 1
DEFAULT_TIMEZONE = "Asia/Shanghai"
DTMF_KEYS = frozenset("0123456789*#")
TERMINAL_TYPES = frozenset({"queue", "transfer", "hangup"})

EMPTY: Mapping[Any, Any] = MappingProxyType({})

_K = TypeVar("_K")
_V = TypeVar("_V")


def frozen_map(d: Mapping[_K, _V] | None = None) -> Mapping[_K, _V]:
    """A read-only mapping (a view over a private copy)."""
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the caller hears: ``text`` (TTS until audio is uploaded) and/or an audio ``file``.

    When both are given the file is played and the text is its script.
    """

    text: str | None = None
    file: str | None = None


# ---------------------------------------------------------------- lanes, lists


@dataclass(frozen=True, slots=True)
class Overflow:
    after_s: int
    to: str


@dataclass(frozen=True, slots=True)
class Lane:
    id: str
    label: str
    priority: int = 1
    overflow: Overflow | None = None
    skills: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class ListRef:
    """A caller-number list kept by admins (a CSV file relative to the config root)."""

    id: str
    file: str
    description: str = ""


# ---------------------------------------------------------------- calendars


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open interval of minutes since local midnight: [start, end)."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(frozen=True, slots=True)
class DayOverride:
    """One date's exception: closed, or open with these hours."""

    date: dt.date
    hours: tuple[TimeRange, ...] = ()  # empty = closed all day
    note: str = ""

    @property
    def closed(self) -> bool:
        return not self.hours


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """The official holiday schedule for a year the holiday library does not cover."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()  # weekend days that are working days (调休)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Opening hours: a weekly rule, public holidays, adjusted working days and overrides.

    ``weekly`` has 7 entries, Monday first. ``holidays`` is ``"cn"`` (China's
    official schedule, 调休 included) or None. ``workday_hours`` are the hours of
    an adjusted working weekend day (default: Monday's). ``overrides`` win over
    everything else; ``overrides_file`` is where they came from (if a file).
    """

    id: str
    weekly: tuple[tuple[TimeRange, ...], ...]
    holidays: str | None = None
    workday_hours: tuple[TimeRange, ...] | None = None
    overrides: tuple[DayOverride, ...] = ()
    overrides_file: str | None = None
    cn_years: Mapping[int, YearSchedule] = field(default_factory=lambda: EMPTY)
    timezone: str = DEFAULT_TIMEZONE

    def adjusted_workday_hours(self) -> tuple[TimeRange, ...]:
        return self.workday_hours if self.workday_hours is not None else self.weekly[0]

    def override_for(self, day: dt.date) -> DayOverride | None:
        found = None
        for o in self.overrides:  # the last one given for a date wins
            if o.date == day:
                found = o
        return found


# ---------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseNode:
    type: ClassVar[str] = ""
    id: str
    label: str = ""  # an admin's note; never played


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode(BaseNode):
    type: ClassVar[str] = "play"
    prompt: Prompt
    next: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode(BaseNode):
    type: ClassVar[str] = "menu"
    prompt: Prompt
    options: Mapping[str, str]  # DTMF key(s) -> node id
    timeout_s: int = 5
    retries: int = 2  # repeats after a wrong key (and after no key, unless timeout_retries is set)
    timeout_retries: int | None = None  # repeats after no key; None: same as retries
    max_digits: int = 1
    on_timeout: str | None = None
    on_invalid: str | None = None  # filled from on_timeout when not given
    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None

    def retries_for(self, kind: str) -> int:
        if kind == "timeout" and self.timeout_retries is not None:
            return self.timeout_retries
        return self.retries


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode(BaseNode):
    type: ClassVar[str] = "collect"
    prompt: Prompt
    var: str
    pattern: str | None = None  # a regular expression the whole input must match
    max_digits: int = 20
    terminator: str = "#"
    timeout_s: int = 8
    retries: int = 2
    next: str | None = None
    on_fail: str | None = None
    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None


@dataclass(frozen=True, slots=True)
class RepeatRule:
    within_days: int
    min_calls: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerCheck:
    """One rule of a caller_check node: all given conditions must hold."""

    goto: str | None
    in_list: str | None = None
    did: tuple[str, ...] = ()  # any of these DIDs
    prefix: tuple[str, ...] = ()  # caller number starts with any of these
    repeat: RepeatRule | None = None
    anonymous: bool | None = None  # True: no caller number; False: has one


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerCheckNode(BaseNode):
    type: ClassVar[str] = "caller_check"
    checks: tuple[CallerCheck, ...]
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleNode(BaseNode):
    type: ClassVar[str] = "schedule"
    calendar: str
    open: str | None = None
    closed: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeNode(BaseNode):
    type: ClassVar[str] = "describe"
    prompt: Prompt
    max_s: int = 30
    silence_s: int = 3
    beep: bool = True
    next: str | None = None


DEFAULT_DESCRIBE_PROMPT = Prompt(text="请在提示音后简要说明您的诉求，说完请稍候，我们将尽快为您接通。")


@dataclass(frozen=True, slots=True)
class DescribeSpec:
    """A queue's "describe your problem while you wait" step."""

    prompt: Prompt = DEFAULT_DESCRIBE_PROMPT
    max_s: int = 30
    silence_s: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode(BaseNode):
    type: ClassVar[str] = "queue"
    lane: str
    describe: DescribeSpec | None = None
    prompt: Prompt | None = None  # played on entering the queue
    moh: str = "default"
    announce_every_s: int = 45  # 0: no position/wait announcements
    announce_position: bool = True
    announce_wait: bool = True
    callback_after_s: int | None = None  # offer a callback after this wait; None: never
    after: str | None = None  # where the caller goes when the operator hangs up (survey)
    on_fail: str | None = None  # when the controller cannot queue the call


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferNode(BaseNode):
    type: ClassVar[str] = "transfer"
    number: str
    mode: str = "blind"  # blind | attended
    prompt: Prompt | None = None
    ring_s: int = 30
    on_fail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyNode(BaseNode):
    type: ClassVar[str] = "survey"
    prompt: Prompt
    choices: Mapping[str, str]  # key -> meaning (1 满意, 2 基本满意, 3 不满意)
    var: str = "rating"
    timeout_s: int = 6
    retries: int = 1
    next: str | None = None  # after a rating, or after the retries are used up
    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode(BaseNode):
    type: ClassVar[str] = "hangup"
    prompt: Prompt | None = None


Node = Union[
    PlayNode, MenuNode, CollectNode, CallerCheckNode, ScheduleNode,
    DescribeNode, QueueNode, TransferNode, SurveyNode, HangupNode,
]

NODE_CLASSES: Mapping[str, type] = MappingProxyType({
    cls.type: cls for cls in (
        PlayNode, MenuNode, CollectNode, CallerCheckNode, ScheduleNode,
        DescribeNode, QueueNode, TransferNode, SurveyNode, HangupNode,
    )
})


def node_refs(node: Node) -> list[tuple[str, str]]:
    """(document path relative to the node, target node id) for every edge out of a node."""
    refs: list[tuple[str, str | None]] = []
    if isinstance(node, MenuNode):
        refs += [(f"options.{k}", v) for k, v in node.options.items()]
        refs += [("on_timeout", node.on_timeout), ("on_invalid", node.on_invalid)]
    elif isinstance(node, CollectNode):
        refs += [("next", node.next), ("on_fail", node.on_fail)]
    elif isinstance(node, CallerCheckNode):
        refs += [(f"checks.{i}.goto", c.goto) for i, c in enumerate(node.checks)]
        refs += [("default", node.default)]
    elif isinstance(node, ScheduleNode):
        refs += [("open", node.open), ("closed", node.closed)]
    elif isinstance(node, (PlayNode, DescribeNode, SurveyNode)):
        refs += [("next", node.next)]
    elif isinstance(node, QueueNode):
        refs += [("after", node.after), ("on_fail", node.on_fail)]
    elif isinstance(node, TransferNode):
        refs += [("on_fail", node.on_fail)]
    return [(p, t) for p, t in refs if t is not None]


def node_prompts(node: Node) -> list[tuple[str, Prompt]]:
    """(path relative to the node, prompt) for every prompt a node may play."""
    out: list[tuple[str, Prompt]] = []
    for name in ("prompt", "invalid_prompt", "timeout_prompt"):
        p = getattr(node, name, None)
        if isinstance(p, Prompt):
            out.append((name, p))
    if isinstance(node, QueueNode) and node.describe:
        out.append(("describe.prompt", node.describe.prompt))
    return out


# ---------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Defaults:
    """Tree-wide defaults for prompts a node does not set itself."""

    invalid_prompt: Prompt | None = None
    timeout_prompt: Prompt | None = None


@dataclass(frozen=True, slots=True)
class Tree:
    version: int
    name: str
    entry: str
    nodes: Mapping[str, Node]
    lanes: Mapping[str, Lane] = field(default_factory=lambda: EMPTY)
    lists: Mapping[str, ListRef] = field(default_factory=lambda: EMPTY)
    calendars: Mapping[str, Calendar] = field(default_factory=lambda: EMPTY)
    defaults: Defaults = Defaults()
    timezone: str = DEFAULT_TIMEZONE
    description: str = ""

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def to_data(obj: Any) -> Any:
    """Model objects -> plain JSON-able data (dataclasses to dicts, None fields left out)."""
    if isinstance(obj, TimeRange):
        return str(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        t = getattr(type(obj), "type", None)
        if isinstance(t, str) and t:
            out["type"] = t
        for f in fields(obj):
            v = getattr(obj, f.name)
            if v is None:
                continue
            out[f.name] = to_data(v)
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (frozenset, set)):
        return sorted(to_data(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    return obj
