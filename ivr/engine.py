"""The per-call IVR engine: pure functions from (tree, state, event) to (state, action).

Driving a call::

    step = start(tree, facts)
    while not step.finished:
        event = await execute(step.action)       # Play -> Done, GetDigits -> Digits/Timeout, ...
        step = advance(tree, step.state, event)  # CallerHangup at any time ends the walk

Automatic nodes (caller_check, schedule) are decided inside ``start``/``advance``;
every action returned needs the caller's side to happen (audio, keys, a
queue...). The state is immutable and JSON-able (``to_dict``/``from_dict``),
so a call can be parked (e.g. while queued) and resumed for the survey.

Events per action:
- ``Play`` -> ``Done``;
- ``GetDigits`` -> ``Digits(keys)`` or ``Timeout`` (``Digits("")`` is a timeout);
- ``Record`` -> ``Done`` (or ``Timeout``: nothing said);
- ``Queue``/``Transfer`` -> ``Done`` when the conversation ended with the caller
  still on the line (queue: goes to its ``after`` node, e.g. the survey), or
  ``Failed`` (goes to ``on_fail`` if set);
- ``Hangup`` -> ``Done``;
- any -> ``CallerHangup``. ``End`` is final: no event is accepted after it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Union

from ivr.calendar import decide
from ivr.model import (
    CallerCheck,
    CallerCheckNode,
    CollectNode,
    DescribeNode,
    DescribeSpec,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    Prompt,
    QueueNode,
    ScheduleNode,
    SurveyNode,
    TransferNode,
    Tree,
    to_data,
)
from ivr.numbers import caller_key, normalize_did
from ivr.problems import IvrError

MAX_AUTO_HOPS = 64   # automatic nodes in a row before the engine calls it a loop
MAX_PATH = 500       # nodes entered by one call

_DigitsNode = Union[MenuNode, CollectNode, SurveyNode]     # the nodes that ask for keys


class EngineError(IvrError):
    """The engine cannot go on (bad event, broken tree). The handler sends the call to the fallback."""

    error_id = "ivr_engine"


# ---------------------------------------------------------------- facts, events


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What is known about a call when it arrives.

    caller: the caller id as presented (any format, or None/"anonymous").
    did: the number dialled. at: arrival time (naive = the tree's time zone).
    recent_calls: the caller's earlier calls, either one count for every
    ``repeat`` window or ``{within_days: count}`` (see ``repeat_windows``).
    member_of: ids of the caller lists the number is on (``numbers.memberships``).
    """

    caller: str | None
    did: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    recent_calls: int | Mapping[int, int] = 0
    member_of: frozenset[str] = frozenset()

    def calls_within(self, days: int) -> int:
        if isinstance(self.recent_calls, Mapping):
            return int(self.recent_calls.get(days, 0))
        return int(self.recent_calls)


@dataclass(frozen=True, slots=True)
class Done:
    kind: ClassVar[str] = "done"


@dataclass(frozen=True, slots=True)
class Digits:
    kind: ClassVar[str] = "digits"
    digits: str


@dataclass(frozen=True, slots=True)
class Timeout:
    kind: ClassVar[str] = "timeout"


@dataclass(frozen=True, slots=True)
class CallerHangup:
    kind: ClassVar[str] = "caller_hangup"


@dataclass(frozen=True, slots=True)
class Failed:
    kind: ClassVar[str] = "failed"
    reason: str = ""


Event = Union[Done, Digits, Timeout, CallerHangup, Failed]


# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Play:
    """Play the prompts in order (not interruptible), then send Done."""

    kind: ClassVar[str] = "play"
    terminal: ClassVar[bool] = False
    prompts: tuple[Prompt, ...]
    node: str


@dataclass(frozen=True, slots=True)
class GetDigits:
    """Play the prompts (keys interrupt them) and read up to ``max_digits`` keys.

    Send Digits(keys) (without the terminator) or Timeout when nothing was pressed
    within ``timeout_s`` after the prompts.
    """

    kind: ClassVar[str] = "get_digits"
    terminal: ClassVar[bool] = False
    prompts: tuple[Prompt, ...]
    max_digits: int
    timeout_s: int
    node: str
    terminator: str = ""

    @property
    def prompt(self) -> Prompt:
        """The node's own prompt (the last one; earlier ones are 'wrong key'/'no key' notices)."""
        return self.prompts[-1]


@dataclass(frozen=True, slots=True)
class Record:
    """Play the prompt (and a beep), record the caller's account, then send Done."""

    kind: ClassVar[str] = "record"
    terminal: ClassVar[bool] = False
    prompt: Prompt
    max_s: int
    silence_s: int
    node: str
    beep: bool = True


@dataclass(frozen=True, slots=True)
class Queue:
    """Put the caller in a lane (after the optional prompt and describe step)."""

    kind: ClassVar[str] = "queue"
    terminal: ClassVar[bool] = True
    lane: str
    node: str
    describe: DescribeSpec | None = None
    prompt: Prompt | None = None
    moh: str = "default"
    announce_every_s: int = 45
    announce_position: bool = True
    announce_wait: bool = True
    callback_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    kind: ClassVar[str] = "transfer"
    terminal: ClassVar[bool] = True
    number: str
    mode: str
    node: str
    prompt: Prompt | None = None
    ring_s: int = 30


@dataclass(frozen=True, slots=True)
class Hangup:
    """Play the prompt if any, then hang up; send Done."""

    kind: ClassVar[str] = "hangup"
    terminal: ClassVar[bool] = True
    node: str
    prompt: Prompt | None = None


@dataclass(frozen=True, slots=True)
class End:
    """The walk is over (``reason``: caller_hangup, completed, transferred, hangup, failed)."""

    kind: ClassVar[str] = "end"
    terminal: ClassVar[bool] = True
    reason: str


Action = Union[Play, GetDigits, Record, Queue, Transfer, Hangup, End]


def action_to_dict(action: Action) -> dict[str, Any]:
    return {"type": action.kind, **to_data(action)}


# ---------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class CallState:
    """Where a call is: the node, failures at it, nodes entered, collected variables.

    ``vars`` is a tuple of (name, value) pairs (see ``variables``); ``notes`` are
    facts worth logging (which caller check matched, a degraded calendar).
    """

    facts: CallFacts
    node: str | None = None
    attempts: int = 0
    path: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    finished: bool = False

    @property
    def variables(self) -> dict[str, str]:
        return dict(self.vars)

    def with_var(self, name: str, value: str) -> CallState:
        kept = tuple((k, v) for k, v in self.vars if k != name)
        return replace(self, vars=kept + ((name, value),))

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        rc = dict(f.recent_calls) if isinstance(f.recent_calls, Mapping) else f.recent_calls
        return {
            "facts": {"caller": f.caller, "did": f.did, "at": f.at.isoformat(),
                      "recent_calls": rc, "member_of": sorted(f.member_of)},
            "node": self.node, "attempts": self.attempts, "path": list(self.path),
            "vars": dict(self.vars), "notes": list(self.notes), "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallState:
        f = d["facts"]
        rc = f.get("recent_calls", 0)
        if isinstance(rc, Mapping):
            rc = {int(k): int(v) for k, v in rc.items()}
        facts = CallFacts(f.get("caller"), f.get("did"), dt.datetime.fromisoformat(f["at"]), rc,
                          frozenset(f.get("member_of", ())))
        return cls(facts, d.get("node"), int(d.get("attempts", 0)), tuple(d.get("path", ())),
                   tuple((str(k), str(v)) for k, v in dict(d.get("vars", {})).items()),
                   tuple(d.get("notes", ())), bool(d.get("finished", False)))


@dataclass(frozen=True, slots=True)
class Step:
    state: CallState
    action: Action

    @property
    def finished(self) -> bool:
        return isinstance(self.action, End)


# ---------------------------------------------------------------- the walk


def start(tree: Tree, facts: CallFacts) -> Step:
    """The first action of a call: runs from the tree's entry to the first action node."""
    return _enter(tree, CallState(facts), tree.entry)


def advance(tree: Tree, state: CallState, event: Event) -> Step:
    """The next step after ``event`` answered the action of ``state``'s node."""
    if state.finished:
        raise EngineError("the call's walk is already over", node=state.node, event=event.kind)
    if isinstance(event, CallerHangup):
        return _end(state, "caller_hangup")
    node = _node(tree, state.node)
    if isinstance(event, Digits) and event.digits == "":
        event = Timeout()
    if isinstance(node, (PlayNode, DescribeNode)):
        if isinstance(event, Done) or (isinstance(node, DescribeNode) and isinstance(event, Timeout)):
            return _goto(tree, state, node.next, "next")
    elif isinstance(node, MenuNode):
        if isinstance(event, Digits):
            keys = event.digits.rstrip("#") if "#" not in node.options else event.digits
            if keys in node.options:
                return _goto(tree, state, node.options[keys], f"options.{keys}")
            return _retry(tree, state, node, "invalid", node.on_invalid)
        if isinstance(event, Timeout):
            return _retry(tree, state, node, "timeout", node.on_timeout)
    elif isinstance(node, CollectNode):
        if isinstance(event, Digits):
            value = event.digits
            if node.terminator and value.endswith(node.terminator):
                value = value[: -len(node.terminator)]
            if not value:
                return _retry(tree, state, node, "timeout", node.on_fail)
            if node.pattern is None or re.fullmatch(node.pattern, value):
                return _goto(tree, state.with_var(node.var, value), node.next, "next")
            return _retry(tree, state, node, "invalid", node.on_fail)
        if isinstance(event, Timeout):
            return _retry(tree, state, node, "timeout", node.on_fail)
    elif isinstance(node, SurveyNode):
        if isinstance(event, Digits):
            key = event.digits.rstrip("#")[:1]
            if key in node.choices:
                return _goto(tree, state.with_var(node.var, key), node.next, "next")
            return _retry(tree, state, node, "invalid", node.next)
        if isinstance(event, Timeout):
            return _retry(tree, state, node, "timeout", node.next)
    elif isinstance(node, QueueNode):
        if isinstance(event, Done):
            return _goto(tree, state, node.after, "after") if node.after else _end(state, "completed")
        if isinstance(event, Failed):
            return _goto(tree, state, node.on_fail, "on_fail") if node.on_fail else _end(state, "failed")
    elif isinstance(node, TransferNode):
        if isinstance(event, Done):
            return _end(state, "transferred")
        if isinstance(event, Failed):
            return _goto(tree, state, node.on_fail, "on_fail") if node.on_fail else _end(state, "failed")
    elif isinstance(node, HangupNode):
        if isinstance(event, Done):
            return _end(state, "hangup")
    raise EngineError(f"event {event.kind!r} does not answer a {node.type} node",
                      node=state.node, event=event.kind)


def _node(tree: Tree, node_id: str | None) -> Node:
    if node_id is None or node_id not in tree.nodes:
        raise EngineError(f"unknown node {node_id!r}", node=node_id)
    return tree.nodes[node_id]


def _end(state: CallState, reason: str) -> Step:
    return Step(replace(state, finished=True), End(reason))


def _goto(tree: Tree, state: CallState, target: str | None, branch: str) -> Step:
    if target is None:
        raise EngineError(f"dead end at {state.node!r}: no {branch!r}", node=state.node, branch=branch)
    return _enter(tree, state, target)


def _retry(tree: Tree, state: CallState, node: _DigitsNode, kind: str, exhausted: str | None) -> Step:
    """A wrong key or no key: ask again with a notice, or take the exhausted branch."""
    attempts = state.attempts + 1
    limit = node.retries_for(kind) if isinstance(node, MenuNode) else node.retries
    if attempts > limit:
        return _goto(tree, state, exhausted, "on_invalid" if kind == "invalid" else "on_timeout")
    notice = node.invalid_prompt if kind == "invalid" else node.timeout_prompt
    prompts = ((notice,) if notice is not None else ()) + (node.prompt,)
    return Step(replace(state, attempts=attempts), _digits_action(node, prompts))


def _digits_action(node: _DigitsNode, prompts: tuple[Prompt, ...]) -> GetDigits:
    if isinstance(node, MenuNode):
        return GetDigits(prompts, node.max_digits, node.timeout_s, node.id)
    if isinstance(node, CollectNode):
        return GetDigits(prompts, node.max_digits, node.timeout_s, node.id, node.terminator)
    return GetDigits(prompts, 1, node.timeout_s, node.id)


def _enter(tree: Tree, state: CallState, node_id: str) -> Step:
    for _ in range(MAX_AUTO_HOPS):
        node = _node(tree, node_id)
        if len(state.path) >= MAX_PATH:
            raise EngineError("the call entered too many nodes", node=node_id, limit=MAX_PATH)
        state = replace(state, node=node_id, attempts=0, path=state.path + (node_id,))
        if isinstance(node, CallerCheckNode):
            index, target = _check_caller(node, state.facts)
            if index is not None:
                what = _describe_check(node.checks[index])
                state = replace(state, notes=state.notes + (f"{node_id}: check {index} ({what}) matched",))
            if target is None:
                raise EngineError(f"dead end at {node_id!r}: no 'default'", node=node_id)
            node_id = target
            continue
        if isinstance(node, ScheduleNode):
            calendar = tree.calendars.get(node.calendar)
            if calendar is None:
                raise EngineError(f"unknown calendar {node.calendar!r}", node=node_id)
            decision = decide(calendar, state.facts.at)
            if decision.degraded:
                state = replace(state, notes=state.notes + (f"{node_id}: {decision.note}",))
            target = node.open if decision.open else node.closed
            if target is None:
                raise EngineError(f"dead end at {node_id!r}", node=node_id, open=decision.open)
            node_id = target
            continue
        return Step(state, _action_for(node))
    raise EngineError("automatic nodes go round in a loop", node=node_id, hops=MAX_AUTO_HOPS)


def _action_for(node: Node) -> Action:
    if isinstance(node, PlayNode):
        return Play((node.prompt,), node.id)
    if isinstance(node, (MenuNode, CollectNode, SurveyNode)):
        return _digits_action(node, (node.prompt,))
    if isinstance(node, DescribeNode):
        return Record(node.prompt, node.max_s, node.silence_s, node.id, node.beep)
    if isinstance(node, QueueNode):
        return Queue(node.lane, node.id, node.describe, node.prompt, node.moh, node.announce_every_s,
                     node.announce_position, node.announce_wait, node.callback_after_s)
    if isinstance(node, TransferNode):
        return Transfer(node.number, node.mode, node.id, node.prompt, node.ring_s)
    if isinstance(node, HangupNode):
        return Hangup(node.id, node.prompt)
    raise EngineError(f"no action for node type {node.type!r}", node=node.id)  # pragma: no cover


def _check_caller(node: CallerCheckNode, facts: CallFacts) -> tuple[int | None, str | None]:
    """(index of the first matching check or None, where to go)."""
    number = caller_key(facts.caller)
    did = normalize_did(facts.did)
    for i, check in enumerate(node.checks):
        if _matches(check, facts, number, did):
            return i, check.goto
    return None, node.default


def _matches(c: CallerCheck, facts: CallFacts, number: str, did: str) -> bool:
    if c.in_list is not None and c.in_list not in facts.member_of:
        return False
    if c.did and did not in {normalize_did(d) for d in c.did}:
        return False
    if c.prefix and not (number and any(number.startswith(p) for p in c.prefix)):
        return False
    if c.repeat is not None and facts.calls_within(c.repeat.within_days) < c.repeat.min_calls:
        return False
    if c.anonymous is not None and (number == "") != c.anonymous:
        return False
    return True


def _describe_check(c: CallerCheck) -> str:
    parts = []
    if c.in_list:
        parts.append(f"in_list {c.in_list}")
    if c.did:
        parts.append("did " + "|".join(c.did))
    if c.prefix:
        parts.append("prefix " + "|".join(c.prefix))
    if c.repeat:
        parts.append(f"repeat {c.repeat.min_calls} in {c.repeat.within_days} days")
    if c.anonymous is not None:
        parts.append("anonymous" if c.anonymous else "not anonymous")
    return ", ".join(parts)


def repeat_windows(tree: Tree) -> frozenset[int]:
    """The ``within_days`` windows a tree's repeat checks need counts for."""
    return frozenset(c.repeat.within_days for n in tree.nodes.values() if isinstance(n, CallerCheckNode)
                     for c in n.checks if c.repeat is not None)


def lists_used(tree: Tree) -> frozenset[str]:
    """The caller lists a tree's checks look at (the handler computes membership for these)."""
    return frozenset(c.in_list for n in tree.nodes.values() if isinstance(n, CallerCheckNode)
                     for c in n.checks if c.in_list)
