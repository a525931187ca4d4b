"""Per-field accuracy of extraction over a labelled JSON Lines file.

One case per line:
    {"id": "d001", "split": "dev", "transcript": "...",
     "labels": {"appeal_type": "投诉", "category": ["住房与城乡建设", "物业管理"],
                "district": "芦淞区", "urgency": "一般", "emergency": null,
                "callback_number": "13800001234", "caller_name": "王"}}
A label that is present is scored (null included: "nothing to find" is a
label too); a label that is absent is not. `category_l2` is scored on every
case with a category label: a one-element category means "no second level".
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickets.extract import DEFAULT, extract
from tickets.model import TicketsError
from tickets.rules import Rules

FIELDS = ("appeal_type", "category_l1", "category_l2", "district", "urgency",
          "emergency", "callback_number", "caller_name")
_LABEL_KEYS = {"appeal_type", "category", "district", "urgency", "emergency", "callback_number", "caller_name"}


class EvalFileError(TicketsError):
    """The evaluation file cannot be used; `details` has the path and line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__("tickets.eval_file_invalid", f"{where}: {message}", path=path, line=line)


@dataclass(frozen=True)
class EvalCase:
    id: str
    split: str
    transcript: str
    labels: Mapping[str, Any]


@dataclass(frozen=True)
class FieldScore:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        return round(self.correct / self.total, 4) if self.total else None


@dataclass(frozen=True)
class EmergencyScore:
    """Emergencies counted apart: a missed 119 is worse than an extra question."""
    expected: int = 0           # cases labelled with an emergency
    detected: int = 0           # ... found with the right kind
    raised: int = 0             # cases where the draft named an emergency
    right: int = 0              # ... and it was the labelled one

    @property
    def recall(self) -> float | None:
        return round(self.detected / self.expected, 4) if self.expected else None

    @property
    def precision(self) -> float | None:
        return round(self.right / self.raised, 4) if self.raised else None

    def to_dict(self) -> dict[str, Any]:
        return {"recall": self.recall, "precision": self.precision, "expected": self.expected,
                "detected": self.detected, "raised": self.raised, "right": self.right}


@dataclass(frozen=True)
class EvalReport:
    cases: int
    fields: Mapping[str, FieldScore]
    misses: tuple[dict[str, Any], ...] = field(default=())
    confusion: Mapping[str, Mapping[str, int]] = field(default_factory=dict)   # expected L1 -> got L1 -> n
    emergency: EmergencyScore = field(default_factory=EmergencyScore)

    def accuracy(self) -> dict[str, float | None]:
        return {name: score.accuracy for name, score in self.fields.items()}

    def to_dict(self, with_misses: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cases": self.cases,
            "accuracy": self.accuracy(),
            "emergency": self.emergency.to_dict(),
            "counts": {n: {"correct": s.correct, "total": s.total} for n, s in self.fields.items()},
            "category_confusion": {k: dict(v) for k, v in self.confusion.items()},
        }
        if with_misses:
            out["misses"] = list(self.misses)
        return out


def load_cases(path: str | Path) -> list[EvalCase]:
    """Read and check a labelled JSONL file; raise EvalFileError on the first bad line."""
    path_s = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(path_s, None, f"cannot read: {exc}") from None
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(path_s, number, f"not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise EvalFileError(path_s, number, "each line must be a JSON object")
        case_id, transcript, labels = obj.get("id"), obj.get("transcript"), obj.get("labels")
        if not isinstance(case_id, str) or not case_id:
            raise EvalFileError(path_s, number, "missing string 'id'")
        if case_id in seen:
            raise EvalFileError(path_s, number, f"duplicate id {case_id!r}")
        if not isinstance(transcript, str):
            raise EvalFileError(path_s, number, "missing string 'transcript'")
        if not isinstance(labels, dict) or not labels:
            raise EvalFileError(path_s, number, "missing object 'labels'")
        unknown = set(labels) - _LABEL_KEYS
        if unknown:
            raise EvalFileError(path_s, number, f"unknown label(s): {', '.join(sorted(unknown))}")
        category = labels.get("category")
        if category is not None and (not isinstance(category, list) or not 1 <= len(category) <= 3):
            raise EvalFileError(path_s, number, "'category' must be a list of 1 to 3 levels or null")
        seen.add(case_id)
        cases.append(EvalCase(case_id, str(obj.get("split") or "dev"), transcript, labels))
    if not cases:
        raise EvalFileError(path_s, None, "no cases")
    return cases


def evaluate(cases: Iterable[EvalCase], rules: Rules | None = None, split: str | None = None,
             model: Any = DEFAULT) -> EvalReport:
    """Extract each case and compare with its labels, field by field (`model`: as for extract)."""
    correct = {f: 0 for f in FIELDS}
    total = {f: 0 for f in FIELDS}
    misses: list[dict[str, Any]] = []
    confusion: dict[str, dict[str, int]] = {}
    em = {"expected": 0, "detected": 0, "raised": 0, "right": 0}
    count = 0
    for case in cases:
        if split and case.split != split:
            continue
        count += 1
        draft = extract(case.transcript, rules, model=model)
        got = _predicted(draft.to_contract())
        want = _expected(case.labels)
        if "category_l1" in want:
            row = confusion.setdefault(str(want["category_l1"]), {})
            row[str(got["category_l1"])] = row.get(str(got["category_l1"]), 0) + 1
        if "emergency" in want:
            em["expected"] += want["emergency"] is not None
            em["detected"] += want["emergency"] is not None and got["emergency"] == want["emergency"]
            em["raised"] += got["emergency"] is not None
            em["right"] += got["emergency"] is not None and got["emergency"] == want["emergency"]
        for name, expected in want.items():
            total[name] += 1
            if got[name] == expected:
                correct[name] += 1
            else:
                misses.append({"id": case.id, "field": name, "expected": expected, "got": got[name]})
    fields = {f: FieldScore(correct[f], total[f]) for f in FIELDS}
    return EvalReport(count, fields, tuple(misses), confusion, EmergencyScore(**em))


def _predicted(contract: Mapping[str, Any]) -> dict[str, Any]:
    category = contract.get("category") or []
    return {
        "appeal_type": contract.get("appeal_type"),
        "category_l1": category[0] if category else None,
        "category_l2": category[1] if len(category) > 1 else None,
        "district": contract.get("district"),
        "urgency": contract.get("urgency"),
        "emergency": contract.get("emergency"),
        "callback_number": contract.get("callback_number"),
        "caller_name": contract.get("caller_name"),
    }


def _expected(labels: Mapping[str, Any]) -> dict[str, Any]:
    want: dict[str, Any] = {}
    for key in ("appeal_type", "district", "urgency", "emergency", "callback_number", "caller_name"):
        if key in labels:
            want[key] = labels[key]
    if "category" in labels:
        category = labels["category"] or []
        want["category_l1"] = category[0] if category else None
        want["category_l2"] = category[1] if len(category) > 1 else None
    return want
