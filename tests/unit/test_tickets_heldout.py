"""Floors on the held-out set (tests/data/tickets_heldout.jsonl: phrase pools the training split
never used; see scripts/gen_tickets_data.py). Measured 2026-12-03 with the default model: every floor
sits a little under what was measured, so a regression fails here. The set was regenerated the same
day with many new pool-b phrasings (danger in the caller's own words, new praise and report frames):
second-level category fell from 0.89 to 0.83 there, the rest stayed above their floors."""
from __future__ import annotations

import json

import pytest

from tickets.eval import evaluate, load_cases
from tickets.learned import DATA

HELDOUT = DATA / "tickets_heldout.jsonl"
FLOORS = {"appeal_type": 0.95, "category_l1": 0.90, "category_l2": 0.81, "district": 0.99, "urgency": 0.98,
          "emergency": 0.98, "callback_number": 0.99, "caller_name": 0.98}
STYLE_FLOORS = {"appeal_type": 0.92, "category_l1": 0.88, "district": 0.99, "callback_number": 0.99,
                "caller_name": 0.97}


@pytest.fixture(scope="module")
def cases():
    return load_cases(HELDOUT)


@pytest.fixture(scope="module")
def styles():
    return {json.loads(line)["id"]: json.loads(line)["style"] for line in HELDOUT.read_text(encoding="utf-8").splitlines()}


def test_heldout_is_separate_from_training():
    train = {json.loads(line)["transcript"] for line in (DATA / "tickets_train.jsonl").read_text(encoding="utf-8").splitlines()}
    held = [json.loads(line)["transcript"] for line in HELDOUT.read_text(encoding="utf-8").splitlines()]
    assert len(held) >= 1000 and not train & set(held)


def test_floors_on_the_heldout_set(cases):
    report = evaluate(cases)
    acc = report.accuracy()
    low = {k: (acc[k], f) for k, f in FLOORS.items() if acc[k] is None or acc[k] < f}
    assert not low, low
    assert report.emergency.expected >= 100
    assert report.emergency.recall >= 0.98 and report.emergency.precision >= 0.95, report.emergency


@pytest.mark.parametrize("style", ["clean", "asr", "dialogue"])
def test_floors_per_style(cases, styles, style):
    report = evaluate([c for c in cases if styles[c.id] == style])
    acc = report.accuracy()
    low = {k: (acc[k], f) for k, f in STYLE_FLOORS.items() if acc[k] is None or acc[k] < f}
    assert not low, (style, low)
    assert report.emergency.recall >= 0.98, (style, report.emergency)


def test_floors_on_the_hand_written_fresh_set():
    """40 calls written by hand in phrasings neither the generator nor the rules were written from
    (tests/data/tickets_fresh.jsonl); measured first at appeal 0.775, L1 0.95, urgency 0.925,
    emergency recall 5/6 with the model, then three general fixes (question marks, a bare surname
    answering 您贵姓, 关在里面)."""
    report = evaluate(load_cases(DATA / "tickets_fresh.jsonl"))
    acc = report.accuracy()
    floors = {"appeal_type": 0.85, "category_l1": 0.92, "urgency": 0.92, "district": 0.95,
              "callback_number": 0.97, "caller_name": 0.95}
    low = {k: (acc[k], f) for k, f in floors.items() if acc[k] < f}
    assert not low, low
    assert report.emergency.recall == 1.0 and report.emergency.precision == 1.0, report.emergency
