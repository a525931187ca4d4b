"""The hand-written unseen set (tests/data/tickets_unseen.jsonl) stays a fair test.

It was written apart from the generator and the labelled training files: no caller's
words in it may share a 12-character run with them (after spaces and punctuation are
dropped, speaker labels and operator turns left out, and place names masked: two calls
from the same street are not a copied sentence). And the extractor must not fall below
the figures measured on it (minus a small margin), field by field and for emergencies.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from tickets.eval import evaluate, load_cases
from tickets.rules import load_rules
from tickets.turns import CALLER, split_turns

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
UNSEEN = DATA / "tickets_unseen.jsonl"
# A development set written later the same way (tests/data/TICKETS.md); its misses are read.
FRESH2 = DATA / "tickets_fresh2.jsonl"
# The third one (2026-12-03, round 7): dialect, elderly, very short and rambling callers.
FRESH3 = DATA / "tickets_fresh3.jsonl"
TRAINING = (DATA / "tickets_train.jsonl", DATA / "tickets_eval.jsonl", DATA / "tickets_heldout.jsonl",
            DATA / "tickets_written.jsonl",
            ROOT / "scripts" / "gen_tickets_data.py")
RUN = 12
_DROP = re.compile(r"[\s，。？！、：；,.?!:;…\"'“”（）()]")


@lru_cache(maxsize=1)
def _places() -> re.Pattern[str]:
    names = {w for w in load_rules().gazetteer.words if len(w) >= 2}
    doc = yaml.safe_load((ROOT / "config" / "tickets" / "places.yaml").read_text(encoding="utf-8"))
    for d in doc.get("districts") or ():
        names.add(d["name"])
        names.update(d.get("aliases") or ())
    for kinds in (doc.get("places") or {}).values():
        for items in kinds.values():
            names.update(items)
    return re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True))))


def _flat(text: str) -> str:
    return _places().sub("某", _DROP.sub("", text))


def _caller_words(transcript: str) -> str:
    dialogue = split_turns(transcript)
    if not dialogue.labelled:
        return transcript
    return "\n".join(t.text for t in dialogue.turns if t.speaker == CALLER)


def _runs(text: str) -> set[str]:
    return {text[i:i + RUN] for i in range(len(text) - RUN + 1)}


@lru_cache(maxsize=1)
def _training_runs() -> frozenset[str]:
    seen: set[str] = set()
    for path in TRAINING:
        for line in path.read_text(encoding="utf-8").splitlines():
            if path.suffix == ".jsonl" and line.strip():
                line = json.loads(line)["transcript"]
            seen |= _runs(_flat(line))
    return frozenset(seen)


@pytest.mark.parametrize("path", [UNSEEN, FRESH2, FRESH3], ids=["unseen", "fresh2", "fresh3"])
def test_no_unseen_call_shares_a_run_of_words_with_the_training_data(path: Path) -> None:
    seen = _training_runs()
    shared = {}
    for case in load_cases(path):
        common = _runs(_flat(_caller_words(case.transcript))) & seen
        if common:
            shared[case.id] = sorted(common)[:2]
    assert not shared, f"unseen calls share words with the training data: {shared}"


def test_the_unseen_set_has_both_halves_and_all_three_styles() -> None:
    rows = [json.loads(x) for x in UNSEEN.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert len(rows) >= 150
    assert {r["split"] for r in rows} == {"A", "B"}
    for style in ("clean", "asr", "dialogue"):
        assert sum(r["style"] == style for r in rows) >= 45


# Measured on each half with the committed rules and the default model (see the README's
# draft-ticket section and tests/data/TICKETS.md), minus a margin of about two calls in 78.
# Raised 2026-12-03 after tickets_written.jsonl joined the training set (B: appeal 0.85,
# L1 0.91, L2 0.85; A: L2 0.88); raised again after round 7 (fresh3: B appeal 0.86, urgency 0.92;
# A appeal 0.99); a floor is never lowered.
FLOORS = {
    "A": {"appeal_type": 0.96, "category_l1": 0.93, "category_l2": 0.86, "district": 0.97, "urgency": 0.96, "emergency": 0.97, "callback_number": 0.97, "caller_name": 0.97},
    "B": {"appeal_type": 0.83, "category_l1": 0.88, "category_l2": 0.82, "district": 0.96, "urgency": 0.89, "emergency": 0.93, "callback_number": 0.96, "caller_name": 0.93},
}
EMERGENCY_FLOORS = {
    "A": {"recall": 0.97, "precision": 0.97},
    "B": {"recall": 0.97, "precision": 0.79},
}


@pytest.fixture(scope="module")
def cases():
    return load_cases(UNSEEN)


@pytest.mark.parametrize("half", ["A", "B"])
def test_extraction_stays_above_its_floors_on_the_unseen_set(cases, half: str) -> None:
    report = evaluate(cases, split=half)
    accuracy = report.accuracy()
    low = {f: (accuracy[f], floor) for f, floor in FLOORS[half].items() if (accuracy[f] or 0.0) < floor}
    assert not low, f"below the floor on unseen half {half}: {low}"
    em = report.emergency
    assert (em.recall or 0.0) >= EMERGENCY_FLOORS[half]["recall"], em.to_dict()
    assert (em.precision or 0.0) >= EMERGENCY_FLOORS[half]["precision"], em.to_dict()


# tickets_fresh2.jsonl after its misses were read (tests/data/TICKETS.md), minus about two calls in 127.
FRESH2_FLOORS = {"appeal_type": 0.90, "category_l1": 0.88, "category_l2": 0.85, "district": 0.97, "urgency": 0.95,
                 "emergency": 0.98, "callback_number": 0.97, "caller_name": 0.98}
FRESH2_EMERGENCY_FLOORS = {"recall": 0.98, "precision": 0.97}




def test_fresh3_shares_no_run_of_words_with_the_sets_read_before_it() -> None:
    """fresh3 measures what the rules learnt from the read sets (fresh, fresh2, half A's misses)
    and from half B's totals: a call echoing one of them would flatter it."""
    seen: set[str] = set()
    for path in (DATA / "tickets_fresh.jsonl", FRESH2, UNSEEN):
        for case in load_cases(path):
            seen |= _runs(_flat(_caller_words(case.transcript)))
    shared = {}
    for case in load_cases(FRESH3):
        common = _runs(_flat(_caller_words(case.transcript))) & seen
        if common:
            shared[case.id] = sorted(common)[:2]
    assert not shared, f"fresh3 calls share words with the read sets: {shared}"


# tickets_fresh3.jsonl after its misses were read (tests/data/TICKETS.md; before: appeal 0.82, L1 0.85,
# urgency 0.92, emergency recall 0.80 / precision 0.77), minus about two calls in 123.
FRESH3_FLOORS = {"appeal_type": 0.91, "category_l1": 0.89, "category_l2": 0.82, "district": 0.98, "urgency": 0.96,
                 "emergency": 0.97, "callback_number": 0.97, "caller_name": 0.98}
FRESH3_EMERGENCY_FLOORS = {"recall": 0.98, "precision": 0.93}


@pytest.mark.parametrize("path, floors, em_floors", [
    (FRESH2, FRESH2_FLOORS, FRESH2_EMERGENCY_FLOORS),
    (FRESH3, FRESH3_FLOORS, FRESH3_EMERGENCY_FLOORS),
], ids=["fresh2", "fresh3"])
def test_extraction_stays_above_its_floors_on_the_fresh_sets(path: Path, floors: dict, em_floors: dict) -> None:
    report = evaluate(load_cases(path))
    accuracy = report.accuracy()
    low = {f: (accuracy[f], floor) for f, floor in floors.items() if (accuracy[f] or 0.0) < floor}
    assert not low, f"below the floor on {path.name}: {low}"
    em = report.emergency
    assert (em.recall or 0.0) >= em_floors["recall"], em.to_dict()
    assert (em.precision or 0.0) >= em_floors["precision"], em.to_dict()
