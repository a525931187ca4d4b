"""The pure part of transfers: targets from config, allowed modes, the record's states."""
from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigInvalid
from agents.transfer import (
    Event,
    Mode,
    ModeNotAllowed,
    State,
    UnknownTarget,
    advance,
    call_id_of_channel,
    caller_action,
    keeps_seat,
    load_transfers,
    new_transfer,
    parse_transfers,
    seat_in_conference,
)
from dialplan.hotline import DialplanSpec, render
from pbx.contract import CONFERENCE, conference_join, external_dial

REPO = Path(__file__).resolve().parents[2]


def cfg():
    return parse_transfers({"ring_s": 20, "targets": [
        {"id": "tax", "name": "12366 纳税服务热线", "number": "12366", "modes": ["blind", "attended"]},
        {"id": "police", "name": "110 报警", "number": "110", "three_way": True},
        {"id": "dept", "name": "专员", "number": 28680001},
    ]})


def test_shipped_targets_have_12366_and_the_emergency_numbers_three_way():
    c = load_transfers(REPO / "config" / "transfers.yaml")
    numbers = {t.number: t for t in c.targets.values()}
    assert numbers["12366"].default_mode == Mode.BLIND
    for n in ("110", "119", "120", "122"):
        assert numbers[n].modes == (Mode.THREE_WAY,), n
    assert any(t.default_mode == Mode.ATTENDED for t in c.targets.values())     # department specialists


def test_modes_default_from_the_admin_pages_three_way_flag():
    c = cfg()
    assert c.ring_s == 20
    assert c.targets["police"].modes == (Mode.THREE_WAY,)
    assert c.targets["dept"].modes == (Mode.BLIND, Mode.ATTENDED, Mode.THREE_WAY)
    assert c.targets["dept"].number == "28680001"
    assert c.check("tax") == (c.targets["tax"], Mode.BLIND)
    assert c.check("tax", "attended")[1] == Mode.ATTENDED
    with pytest.raises(ModeNotAllowed) as e:
        c.check("police", "blind")
    assert e.value.details["allowed"] == ["three_way"]
    with pytest.raises(ModeNotAllowed):
        c.check("tax", "conference")
    with pytest.raises(UnknownTarget):
        c.check("nobody")


def test_every_problem_of_a_bad_file_is_listed():
    with pytest.raises(ConfigInvalid) as e:
        parse_transfers({"ring_s": 2, "extra": 1, "targets": [
            {"id": "a b", "name": "x", "number": "110"},
            {"id": "ok", "name": "", "number": "1-2", "modes": ["blind", "blind", "fly"]},
            {"id": "dup", "name": "x", "number": "12"}, {"id": "dup", "name": "y", "number": "13"},
            {"id": "tw", "name": "x", "number": "14", "three_way": "yes"},
        ]})
    text = "\n".join(e.value.problems)
    for piece in ("extra: unknown field", "ring_s", "targets.0.id", "targets.1.name", "targets.1.number",
                  "blind listed twice", "unknown mode 'fly'", "targets.3.id: duplicate", "targets.4.three_way"):
        assert piece in text, piece
    with pytest.raises(ConfigInvalid):
        parse_transfers({"targets": []})


def _t(mode: Mode):
    c = cfg()
    target = c.targets["dept"]
    return new_transfer("1", "call-1", "1002", "8002", target, mode, 100.0)


def test_blind_dials_then_ends_with_the_targets_answer():
    t = _t(Mode.BLIND)
    assert (t.state, caller_action(t), keeps_seat(t)) == (State.DIALING, "dial", False)
    a = advance(t, Event.EXTERNAL_ANSWERED, 101)
    assert (a.result, a.answered_at) == ("connected", 101)
    done = advance(a, Event.CALLER_LEFT, 130)
    assert (done.state, done.result, done.ended_at, caller_action(done)) == (State.DONE, "connected", 130, "none")
    failed = advance(t, Event.EXTERNAL_FAILED, 120, "BUSY")
    assert (failed.state, failed.result) == (State.DONE, "failed:busy")
    assert advance(failed, Event.EXTERNAL_ANSWERED, 121) is failed          # over: nothing changes


def test_three_way_keeps_the_seat_until_the_operator_leaves():
    t = _t(Mode.THREE_WAY)
    assert (t.state, caller_action(t), keeps_seat(t)) == (State.CONFERENCE, "join", True)
    t = advance(t, Event.EXTERNAL_ANSWERED, 101)
    t = advance(t, Event.OPERATOR_LEFT, 110)
    assert (t.operator_left_at, keeps_seat(t), caller_action(t)) == (110, False, "join")
    t = advance(t, Event.CALLER_LEFT, 150)
    assert (t.state, t.result) == (State.DONE, "connected")
    # the target never answered: the caller and the operator go on talking
    n = advance(_t(Mode.THREE_WAY), Event.EXTERNAL_FAILED, 130, "")
    assert (n.state, n.result, keeps_seat(n)) == (State.CONFERENCE, "failed:no_answer", True)
    # the operator's leaving may be told after the caller is out: it is still recorded
    gone = advance(_t(Mode.THREE_WAY), Event.CALLER_LEFT, 140)
    assert seat_in_conference(gone) and not keeps_seat(gone)     # the caller hung up: the operator talks on
    late = advance(gone, Event.OPERATOR_LEFT, 141)
    assert (late.state, late.operator_left_at, seat_in_conference(late)) == (State.DONE, 141, False)
    assert not seat_in_conference(_t(Mode.BLIND))


def test_attended_holds_the_caller_until_handover_or_return():
    t = _t(Mode.ATTENDED)
    assert (t.state, caller_action(t)) == (State.CONSULTING, "hold")
    t = advance(t, Event.EXTERNAL_ANSWERED, 105)
    assert caller_action(t) == "hold" and t.result == "connected"
    handed = advance(t, Event.OPERATOR_LEFT, 120)
    assert (handed.state, handed.result, caller_action(handed), keeps_seat(handed)) == \
        (State.HANDOVER, "completed", "join", False)
    back = advance(t, Event.EXTERNAL_LEFT, 118)
    assert (back.state, back.result, caller_action(back), keeps_seat(back)) == \
        (State.RETURNED, "cancelled", "join", True)
    refused = advance(_t(Mode.ATTENDED), Event.EXTERNAL_FAILED, 130, "NOANSWER")
    assert (refused.state, refused.result) == (State.RETURNED, "failed:noanswer")


def test_record_round_trip_and_leg_ids():
    t = advance(_t(Mode.THREE_WAY), Event.EXTERNAL_ANSWERED, 101)
    from agents.transfer import Transfer
    assert Transfer.from_dict(t.to_dict()) == t
    assert t.conference == "hl-call-1"
    assert call_id_of_channel(t.external_channel_id) == ("1", "call-1")
    assert call_id_of_channel(t.external_channel_id + ";2") == ("1", "call-1")
    assert call_id_of_channel("cb-call-1-5") is None


def test_dialplan_has_the_conference_context():
    text = render(DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}))
    assert f"[{CONFERENCE}]" in text
    assert "exten => seat,1,Set(HOTLINE_ROLE=seat)" in text
    assert "ConfBridge(${HOTLINE_CONF},hotline_bridge,hotline_party)" in text
    assert "exten => h,1,UserEvent(HotlineConfLeft," in text
    assert conference_join("hl-1") == ("ConfBridge", "hl-1", "hotline_bridge", "hotline_caller")
    assert external_dial("Local/110@x", 30) == ("Dial", "Local/110@x", "30", "g")
    profiles = (REPO / "asterisk-conf" / "confbridge.conf").read_text()
    assert "[hotline_party]" in profiles and "[hotline_caller]" in profiles
