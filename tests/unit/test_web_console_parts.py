"""Pure parts of the console, wallboard and supervision: ChanSpy options and
the seat's channel, the supervision dialplan context, today's top categories
and districts, the targets judged, the pickers' choices from the ticket rules."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from dialplan.hotline import SPY, DialplanSpec, render
from pbx import contract as V
from pbx.events import CoreShowChannel
from pbx.spy import MODES, channel_prefix, seat_channel, spy_options
from tickets.rules import load_rules
from web.routes_console import taxonomy_view
from web.routes_wallboard import Targets, judge, top_counts


def test_spy_options_per_mode_are_quiet_and_end_with_the_call():
    assert spy_options("listen") == "qE"
    assert spy_options("whisper") == "qwE"
    assert spy_options("barge") == "qBE"
    assert set(MODES) == {"listen", "whisper", "barge"}
    with pytest.raises(ValueError, match="unknown supervision mode"):
        spy_options("record")


def test_channel_prefix_of_real_and_demo_seats():
    assert channel_prefix("PJSIP/1004") == "PJSIP/1004-"
    assert channel_prefix("Local/1004@hotline-demo-seat/n") == "Local/1004@hotline-demo-seat-"


def test_seat_channel_picks_the_bridged_half_of_the_seat_only():
    channels = [
        CoreShowChannel.from_headers({"Channel": "PJSIP/10040-00000001", "BridgeId": "b0"}),   # another seat
        CoreShowChannel.from_headers({"Channel": "Local/1004@hotline-demo-seat-00000003;2", "BridgeId": ""}),
        CoreShowChannel.from_headers({"Channel": "Local/1004@hotline-demo-seat-00000002;1", "BridgeId": ""}),
        CoreShowChannel.from_headers({"Channel": "Local/1004@hotline-demo-seat-00000003;1", "BridgeId": "b1"}),
    ]
    assert seat_channel(channels, "Local/1004@hotline-demo-seat/n") == "Local/1004@hotline-demo-seat-00000003;1"
    assert seat_channel([CoreShowChannel("PJSIP/1004-0000000a", bridge_id="x")], "PJSIP/1004") == "PJSIP/1004-0000000a"
    assert seat_channel(channels, "PJSIP/1004") is None                  # PJSIP/10040 is not seat 1004
    assert seat_channel([], "PJSIP/1004") is None


def test_seat_channel_of_the_call_when_the_seat_has_an_old_channel_left():
    channels = [
        CoreShowChannel.from_headers({"Channel": "Local/1004@hotline-demo-seat-00000001;1", "BridgeId": "", "Uniqueid": "a1", "Linkedid": "old"}),
        CoreShowChannel.from_headers({"Channel": "Local/12345@from-pstn-00000005;2", "BridgeId": "b2", "Uniqueid": "sim-x-ivr", "Linkedid": "sim-x"}),
        CoreShowChannel.from_headers({"Channel": "Local/1004@hotline-demo-seat-00000009;1", "BridgeId": "", "Uniqueid": "a9", "Linkedid": "sim-x"}),
    ]
    iface = "Local/1004@hotline-demo-seat/n"
    assert seat_channel(channels, iface, "sim-x-ivr") == "Local/1004@hotline-demo-seat-00000009;1"
    assert seat_channel(channels, iface, "unknown") == "Local/1004@hotline-demo-seat-00000001;1"   # no link found


def test_spy_context_answers_then_spies_with_the_variables():
    text = render(DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}))
    block = text.split(f"[{SPY}]", 1)[1].split("\n[", 1)[0]
    lines = [ln.strip() for ln in block.splitlines() if "=>" in ln or ln.strip().startswith("same")]
    assert "Answer()" in lines[0]
    assert f"ChanSpy(${{{V.SPY_TARGET}}},${{{V.SPY_OPTIONS}}})" in lines[1]
    assert "Hangup()" in lines[2]


def _ticket(category=None, district=None, confirmed=None):
    draft = {"category": category, "district": district}
    return SimpleNamespace(fields=dict(draft, **(confirmed or {})))


def test_top_counts_use_confirmed_fields_and_first_level():
    tickets = [_ticket(["城市管理", "路灯"], "荷塘区"), _ticket(["城市管理"], "荷塘区"),
               _ticket(["公共服务", "供水"], "芦淞区", confirmed={"category": ["环境保护"], "district": "天元区"}),
               _ticket(None, None)]
    top = top_counts(tickets)
    assert top == {"categories": [["城市管理", 2], ["环境保护", 1]], "districts": [["荷塘区", 2], ["天元区", 1]],
                   "tickets": 4}
    assert top_counts(tickets, limit=1)["categories"] == [["城市管理", 2]]


def test_judge_marks_missed_targets_including_average_wait():
    t = Targets()
    got = judge({"answer_rate": 0.9, "service_level": 0.85, "avg_answer_s": 12.0, "abandon_rate": 0.1,
                 "avg_wait_s": 20.0}, t)
    assert {k: v["missed"] for k, v in got.items()} == {
        "answer_rate": True, "service_level": False, "avg_answer_s": False, "abandon_rate": True, "avg_wait_s": True}
    assert got["avg_wait_s"] == {"value": 20.0, "target": 15.0, "op": "<=", "missed": True}
    nothing = judge({k: None for k in got}, t)
    assert not any(v["missed"] for v in nothing.values())


def test_taxonomy_view_lists_the_configured_categories_and_districts():
    rules = load_rules()
    view = taxonomy_view(rules)
    names = [c["name"] for c in view["categories"]]
    assert names == list(rules.taxonomy.level1) and "人力资源社会保障" in names
    hr = next(c for c in view["categories"] if c["name"] == "人力资源社会保障")
    assert "欠薪" in hr["children"]
    assert "芦淞区" in view["districts"] and len(view["districts"]) == len(rules.gazetteer.codes)
    assert "投诉" in view["appeal_types"] and view["urgencies"][0] == "一般"
