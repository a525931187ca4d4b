"""Walk a tree without Asterisk: the engine driven by a scripted caller.

The caller's keys are consumed one prompt at a time, in order:

- without commas, each menu takes ``max_digits`` keys (one, usually), a survey
  one key, a collect node keys up to its terminator (``#``) or ``max_digits``;
- with commas, each comma-separated group answers one prompt (``"9,,2"``:
  9 to the first, nothing to the second, 2 to the third);
- when the keys run out the caller presses nothing (a timeout).

Prompts and recordings simply finish. The walk stops at the first queue,
transfer or hangup, which is the outcome.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ivr.calendar import zone
from ivr.engine import (
    Action,
    CallFacts,
    Digits,
    Done,
    End,
    EngineError,
    Event,
    GetDigits,
    Hangup,
    Play,
    Queue,
    Record,
    Step,
    Timeout,
    Transfer,
    advance,
    start,
)
from ivr.model import Tree
from ivr.numbers import CallerList, memberships

MAX_STEPS = 1000
_KEYS = re.compile(r"^[0-9*#,]*$")


class KeyScript:
    """The keys a simulated caller presses, handed out one prompt at a time."""

    def __init__(self, keys: str = "") -> None:
        if not _KEYS.fullmatch(keys or ""):
            raise ValueError(f"keys may only hold 0-9, *, # and commas: {keys!r}")
        self.grouped = "," in (keys or "")
        self.groups = (keys or "").split(",") if self.grouped else []
        self.rest = "" if self.grouped else (keys or "")

    def answer(self, action: GetDigits) -> str:
        """The keys pressed at this prompt ("" = nothing)."""
        if self.grouped:
            return self.groups.pop(0) if self.groups else ""
        if action.terminator:
            head, sep, tail = self.rest.partition(action.terminator)
            if sep and len(head) <= action.max_digits:
                self.rest = tail
                return head + sep
        taken, self.rest = self.rest[: action.max_digits], self.rest[action.max_digits:]
        return taken


@dataclass(frozen=True)
class Simulation:
    path: tuple[str, ...]
    outcome: dict[str, Any]
    vars: Mapping[str, str]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": list(self.path), "outcome": dict(self.outcome)}
        if self.vars:
            out["vars"] = dict(self.vars)
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def outcome_of(action: Action) -> dict[str, Any]:
    """The JSON outcome of a terminal action (the `hotline ivr simulate` contract)."""
    if isinstance(action, Queue):
        return {"type": "queue", "lane": action.lane}
    if isinstance(action, Transfer):
        return {"type": "transfer", "number": action.number, "mode": action.mode}
    if isinstance(action, Hangup):
        return {"type": "hangup"}
    if isinstance(action, End):
        return {"type": "end", "reason": action.reason}
    raise TypeError(f"not a terminal action: {action!r}")


def parse_at(text: str | None, timezone: str) -> dt.datetime:
    """An ISO time (naive = ``timezone``), or now when None."""
    if not text:
        return dt.datetime.now(zone(timezone))
    at = dt.datetime.fromisoformat(text)
    return at.replace(tzinfo=zone(timezone)) if at.tzinfo is None else at


def facts_for(tree: Tree, *, caller: str | None, did: str | None = None, at: dt.datetime | None = None,
              lists: Mapping[str, CallerList | Collection[str]] | None = None,
              recent_calls: int | Mapping[int, int] = 0) -> CallFacts:
    """Call facts with list membership worked out from the lists given."""
    when = at if at is not None else dt.datetime.now(zone(tree.timezone))
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(tree.timezone))
    return CallFacts(caller, did, when, recent_calls, memberships(caller, lists or {}))


def simulate(tree: Tree, facts: CallFacts, keys: str = "", *, max_steps: int = MAX_STEPS) -> Simulation:
    """Walk the tree for one scripted call; raises EngineError if the walk breaks or never ends."""
    script = KeyScript(keys)
    step: Step = start(tree, facts)
    for _ in range(max_steps):
        action = step.action
        if action.terminal:
            return Simulation(step.state.path, outcome_of(action), step.state.variables, step.state.notes)
        event: Event
        if isinstance(action, GetDigits):
            pressed = script.answer(action)
            event = Digits(pressed) if pressed else Timeout()
        elif isinstance(action, (Play, Record)):
            event = Done()
        else:  # pragma: no cover
            raise EngineError(f"simulation cannot answer {action.kind!r}")
        step = advance(tree, step.state, event)
    raise EngineError("the simulated call did not finish", steps=max_steps, path=list(step.state.path[-20:]))
