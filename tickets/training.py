"""Retraining from operators' confirmed tickets, checked before use.

`retrain(site_tickets)`:
1. labelled cases from confirmed tickets (the operator's fields are the truth; the
   transcript, or the live turns as 来电人/话务员 text, is the input), split by a hash
   of the ticket id: one in five is held out;
2. a new model from the committed training set plus the site's training share;
3. both the current model and the new one evaluated on the held-out cases (the
   committed held-out set plus the site's share);
4. the new model saved as the next version; it becomes current only if it is not
   worse (mean of appeal type, category L1 and urgency accuracy not lower, and
   emergency recall not lower), or when there is no current model at all.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickets import learned
from tickets.eval import EvalCase, evaluate, load_cases
from tickets.turns import render

HELDOUT_FILES = (learned.DATA / "tickets_heldout.jsonl", learned.DATA / "tickets_eval.jsonl")
SCORED = ("appeal_type", "category_l1", "urgency")


def case_from_ticket(ticket: Mapping[str, Any]) -> EvalCase | None:
    """A labelled case from an exported/confirmed ticket dict, or None when it is not usable."""
    confirmed = ticket.get("confirmed")
    if not isinstance(confirmed, Mapping) or ticket.get("status") not in ("confirmed", "handed_off", "dead_letter", None):
        return None
    turns = ticket.get("turns") or []
    transcript = render(turns) if turns else str(ticket.get("transcript") or "")
    if not transcript.strip():
        return None
    labels: dict[str, Any] = {}
    for key in ("appeal_type", "urgency", "emergency", "district", "caller_name", "callback_number"):
        if key in confirmed:
            labels[key] = confirmed[key]
    category = confirmed.get("category")
    if isinstance(category, (list, tuple)) and 1 <= len(category) <= 3:
        labels["category"] = list(category)
    if not labels:
        return None
    tid = str(ticket.get("id") or hashlib.sha1(transcript.encode()).hexdigest())
    split = "holdout" if int(hashlib.sha1(tid.encode()).hexdigest(), 16) % 5 == 0 else "train"
    return EvalCase(f"site-{tid}", split, transcript, labels)


def heldout_cases(extra: Iterable[EvalCase] = ()) -> list[EvalCase]:
    cases: list[EvalCase] = []
    for path in HELDOUT_FILES:
        if Path(path).exists():
            cases += [c for c in load_cases(path) if c.split == "holdout"]
    return cases + list(extra)


def score(report: Any) -> dict[str, float]:
    acc = report.accuracy()
    vals = [acc[k] for k in SCORED if acc.get(k) is not None]
    return {"mean": round(sum(vals) / len(vals), 4) if vals else 0.0,
            **{k: acc.get(k) for k in SCORED}, "emergency_recall": report.emergency.recall or 0.0,
            "emergency_precision": report.emergency.precision or 0.0}


@dataclass(frozen=True)
class Outcome:
    version: str
    kept: bool
    current_before: str | None
    new: Mapping[str, float]
    old: Mapping[str, float]
    site_cases: int
    heldout_cases: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "kept": self.kept, "reason": self.reason, "current_before": self.current_before,
                "new": dict(self.new), "old": dict(self.old), "site_cases": self.site_cases,
                "heldout_cases": self.heldout_cases}


def retrain(tickets: Iterable[Mapping[str, Any]], folder: Path | None = None, rules: Any = None) -> Outcome:
    folder = folder or learned.model_dir()
    site = [c for c in (case_from_ticket(t) for t in tickets) if c is not None]
    site_train = [(c.transcript, c.labels, learned.HAND_WRITTEN_WEIGHT) for c in site if c.split == "train"]
    site_held = [c for c in site if c.split == "holdout"]
    held = heldout_cases(site_held)
    before = learned.current_version(folder)
    old_model = learned.load(folder / f"{before}.pkl") if before else None
    version = learned.next_version(folder)
    cases = list(learned.weighted_cases(learned.TRAIN_FILES)) + site_train
    new_model = learned.train(cases, version=version, source=f"committed set + {len(site_train)} confirmed ticket(s)")
    new = score(evaluate(held, rules, model=new_model))
    old = score(evaluate(held, rules, model=old_model))
    not_worse = new["mean"] >= old["mean"] and new["emergency_recall"] >= old["emergency_recall"]
    # with no current model there is nothing to fall back to but the rules: the new one is used
    # (else every first use would train again), and the figures say how it compares with them
    kept = not_worse or before is None
    reason = ("not worse than " + (before or "the rules alone")) if not_worse else (
        "worse than the rules alone, used anyway: there was no model" if before is None else f"worse than {before}")
    learned.save(new_model, folder)
    learned.write_meta(folder, version, {**new_model.meta, "heldout": new, "previous": before,
                                         "previous_heldout": old, "kept": kept, "reason": reason})
    if kept:
        learned.use(version, folder)
    return Outcome(version, kept, before, new, old, len(site), len(held), reason)
