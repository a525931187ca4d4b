"""Reading config/seats.yaml (agents/config.py)."""
from pathlib import Path

import pytest

from agents.config import load_seats, parse_seats
from agents.errors import ConfigInvalid

REPO = Path(__file__).resolve().parents[2]
LANES = ["deputy", "enterprise", "general"]


def test_sample_config_loads():
    cfg = load_seats(REPO / "config" / "seats.yaml", LANES)
    assert sorted(cfg.seats) == [str(i) for i in range(1001, 1011)]
    assert cfg.operators["8003"].skills == {"enterprise": 9, "general": 6}
    assert any(set(o.skills) == {"general"} for o in cfg.operators.values())
    assert any("deputy" in o.skills for o in cfg.operators.values())
    assert [r.code for r in cfg.pause_reasons if not r.system] == ["小休", "培训", "会议", "用餐"]
    assert cfg.pause_reason("未接").system and cfg.pause_reason("离线").system
    assert cfg.reservation_of("1001").lane == "deputy" and cfg.reservation_of("1002") is None
    assert cfg.seats["1001"].username == "1001" and cfg.seats["1001"].secret is None


def test_defaults_and_secret_not_in_repr():
    cfg = parse_seats({"seats": [{"id": 1001, "secret": "s3cret-value"}],
                       "operators": [{"id": "8001", "name": "甲", "skills": {"general": 3}}]})
    s = cfg.seats["1001"]
    assert s.name == "坐席1001" and s.secret == "s3cret-value" and "s3cret" not in repr(s)
    assert cfg.wrap_up_s == 15 and cfg.service_level_s == 15 and cfg.callback.max_attempts == 3
    assert cfg.repeat_caller.within_days == 3
    assert parse_seats({"repeat_caller": None}).repeat_caller is None


def test_every_problem_is_listed_with_its_path():
    data = {
        "seats": [{"id": "1001"}, {"id": "1001"}, {"id": "bad id!"}, {"id": "1003", "username": "1001"},
                  {"id": "1004", "secret": "short"}],
        "operators": [{"id": "8001", "name": "甲", "skills": {"general": 11, "enterprize": 3}},
                      {"id": "8002", "skills": {"general": 3}},
                      {"id": "8003", "name": "丙"}],
        "pause_reasons": ["小休", "小休", "未接"],
        "reserved": {"deputy": {"seats": ["1009"], "lend_after_s": "soon"}},
        "wrap_up_s": -1,
        "colour": "blue",
        "timezone": "Mars/Olympus",
    }
    with pytest.raises(ConfigInvalid) as err:
        parse_seats(data, LANES, source="seats.yaml")
    got = {(p.path, p.code) for p in err.value.problems}
    assert got == {
        ("seats.1.id", "duplicate_key"), ("seats.2.id", "pattern"), ("seats.3.username", "duplicate_key"),
        ("seats.4.secret", "pattern"), ("operators.0.skills.general", "range"),
        ("operators.0.skills.enterprize", "unknown_lane"), ("operators.1.name", "missing"),
        ("operators.2.skills", "missing"), ("pause_reasons.1", "duplicate_key"), ("pause_reasons.2", "range"),
        ("reserved.deputy.seats.0", "missing"), ("reserved.deputy.lend_after_s", "type"),
        ("wrap_up_s", "range"), ("colour", "unknown_field"), ("timezone", "pattern"),
    }
    assert err.value.error_id == "seats_config_invalid"
    assert err.value.to_dict()["details"]["source"] == "seats.yaml"


def test_seat_reserved_twice_and_yaml_syntax(tmp_path):
    with pytest.raises(ConfigInvalid) as err:
        parse_seats({"seats": [{"id": "1"}], "reserved": {"a": {"seats": ["1"]}, "b": {"seats": ["1"]}}})
    assert [(p.path, p.code) for p in err.value.problems] == [("reserved.b.seats.0", "duplicate_key")]
    f = tmp_path / "seats.yaml"
    f.write_text("seats: [\n  {id: 1\n", encoding="utf-8")
    with pytest.raises(ConfigInvalid) as err:
        load_seats(f)
    assert err.value.problems[0].code == "syntax"
    with pytest.raises(ConfigInvalid):
        load_seats(tmp_path / "missing.yaml")
