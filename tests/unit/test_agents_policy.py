"""The routing rules as pure functions (agents/policy.py)."""
from types import MappingProxyType

from agents.config import RepeatBoost, Reservation, SeatsConfig
from agents.model import WaitingCall
from agents.policy import (
    ReadySeat,
    Rules,
    call_order,
    decide,
    estimate_wait,
    next_assignment,
    repeat_boost,
    seat_score,
    to_ms,
    wait_announcement,
    wait_score,
)
from ivr.model import Lane, Overflow

LANES = [Lane("deputy", "人大代表通道", 9), Lane("enterprise", "政企通专席", 5, Overflow(90, "general")),
         Lane("general", "综合受理", 1)]
GEN, ENT, DEP = {"general": 5}, {"enterprise": 5, "general": 5}, {"deputy": 5, "general": 5}


def rules(reserved=None):
    cfg = SeatsConfig(reserved=MappingProxyType(reserved or {}))
    return Rules.build(LANES, cfg)


def seat(sid, skills, idle):
    return ReadySeat(sid, MappingProxyType(skills), idle, operator_id="op" + sid)


def call(cid, lane, at, prio=0, boost=0):
    return WaitingCall(call_id=cid, lane=lane, caller="13800001234", arrived_at=at, priority=prio, boost=boost)


def pairs(assignments):
    return [(a.call_id, a.seat_id) for a in assignments]


def test_deputy_arriving_later_gets_the_next_free_seat():
    calls = [call("gen", "general", 1000.0), call("dep", "deputy", 1030.0)]
    a = next_assignment(rules(), [seat("1004", DEP, 900.0)], calls, now=1031.0)
    assert (a.call_id, a.seat_id, a.overflowed) == ("dep", "1004", False)
    # with no deputy waiting, the general caller gets it
    a = next_assignment(rules(), [seat("1004", DEP, 900.0)], calls[:1], now=1031.0)
    assert a.call_id == "gen"


def test_top_call_without_a_seat_does_not_block_others():
    # a deputy waits but no ready seat has the deputy skill: the general caller is served
    calls = [call("dep", "deputy", 1000.0), call("gen", "general", 1001.0)]
    assert pairs(decide(rules(), [seat("1005", GEN, 0.0)], calls, now=1002.0)) == [("gen", "1005")]


def test_enterprise_caller_goes_to_an_enterprise_seat_even_if_a_general_seat_idles_longer():
    seats = [seat("1005", GEN, 100.0), seat("1002", ENT, 500.0)]
    a = next_assignment(rules(), seats, [call("e1", "enterprise", 1000.0)], now=1001.0)
    assert (a.seat_id, a.overflowed) == ("1002", False)


def test_enterprise_overflows_to_a_general_seat_only_after_the_overflow_time():
    seats = [seat("1005", GEN, 100.0)]
    calls = [call("e1", "enterprise", 1000.0)]
    assert next_assignment(rules(), seats, calls, now=1089.999) is None
    a = next_assignment(rules(), seats, calls, now=1090.0)
    assert (a.call_id, a.seat_id, a.lane, a.overflowed) == ("e1", "1005", "enterprise", True)


def test_overflowed_enterprise_caller_goes_before_general_callers():
    seats = [seat("1005", GEN, 100.0)]
    calls = [call("g1", "general", 900.0), call("e1", "enterprise", 1000.0)]
    assert pairs(decide(rules(), seats, calls, now=1050.0)) == [("g1", "1005")]
    assert pairs(decide(rules(), seats, calls, now=1100.0)) == [("e1", "1005")]


def test_overflow_is_one_hop():
    lanes = [Lane("a", "A", 3, Overflow(10, "b")), Lane("b", "B", 2, Overflow(10, "c")), Lane("c", "C", 1)]
    r = Rules.build(lanes)
    assert decide(r, [seat("1", {"c": 5}, 0.0)], [call("x", "a", 0.0)], now=1000.0) == []


def test_order_lane_priority_then_caller_priority_then_arrival():
    calls = [call("g-early", "general", 10.0), call("g-late-boosted", "general", 20.0, boost=1),
             call("g-late-vip", "general", 30.0, prio=2), call("e", "enterprise", 40.0),
             call("g-mid", "general", 15.0)]
    assert [c.call_id for c in call_order(rules(), calls)] == [
        "e", "g-late-vip", "g-late-boosted", "g-early", "g-mid"]


def test_same_priority_lanes_interleave_by_arrival():
    lanes = [Lane("a", "A", 1), Lane("b", "B", 1)]
    calls = [call("b1", "b", 5.0), call("a1", "a", 7.0), call("b2", "b", 9.0)]
    seats = [seat(str(i), {"a": 1, "b": 1}, float(i)) for i in range(3)]
    assert [p[0] for p in pairs(decide(Rules.build(lanes), seats, calls, now=10.0))] == ["b1", "a1", "b2"]


def test_longest_idle_seat_first_then_higher_level_then_seat_id():
    c = [call("c", "general", 50.0)]
    seats = [seat("1007", {"general": 9}, 30.0), seat("1006", {"general": 2}, 10.0)]
    assert next_assignment(rules(), seats, c, 60.0).seat_id == "1006"
    seats = [seat("1007", {"general": 9}, 10.0), seat("1006", {"general": 2}, 10.0)]
    assert next_assignment(rules(), seats, c, 60.0).seat_id == "1007"
    seats = [seat("1009", {"general": 4}, 10.0), seat("1008", {"general": 4}, 10.0)]
    assert next_assignment(rules(), seats, c, 60.0).seat_id == "1008"


def test_fifty_calls_five_seats_in_arrival_order_spread_by_idle_time():
    calls = [call(f"c{i:02d}", "general", 1000.0 + i) for i in range(50)]
    idle = {"1004": 40.0, "1005": 10.0, "1006": 30.0, "1007": 20.0, "1008": 50.0}
    seats = [seat(s, GEN, t) for s, t in idle.items()]
    got = decide(rules(), seats, calls, now=2000.0)
    assert pairs(got) == [("c00", "1005"), ("c01", "1007"), ("c02", "1006"), ("c03", "1004"), ("c04", "1008")]


def test_reserved_seat_is_not_lent_while_its_lane_has_a_caller():
    res = {"deputy": Reservation("deputy", ("1001",), lend_after_s=60)}
    seats = [seat("1001", DEP, 0.0)]
    gen = call("g", "general", 1000.0)
    # general caller alone: only after lend_after_s
    assert next_assignment(rules(res), seats, [gen], now=1059.0) is None
    assert next_assignment(rules(res), seats, [gen], now=1060.0).seat_id == "1001"
    # a deputy waiting (even one the seat serves after): never lent meanwhile
    dep = call("d", "deputy", 1100.0)
    assert pairs(decide(rules(res), seats, [gen, dep], now=1200.0)) == [("d", "1001")]
    # even when the seat's operator cannot take the deputy: it stays free for the deputy lane
    assert decide(rules(res), [seat("1001", GEN, 0.0)], [gen, dep], now=1200.0) == []
    assert pairs(decide(rules(res), [seat("1001", GEN, 0.0)], [gen], now=1200.0)) == [("g", "1001")]


def test_reserved_seat_with_no_lending_and_its_own_lane():
    res = {"deputy": Reservation("deputy", ("1001",), lend_after_s=None)}
    seats = [seat("1001", DEP, 0.0), seat("1004", GEN, 5.0)]
    calls = [call("g1", "general", 0.0), call("g2", "general", 1.0)]
    assert pairs(decide(rules(res), seats, calls, now=10_000.0)) == [("g1", "1004")]
    assert pairs(decide(rules(res), seats, [call("d", "deputy", 9.0)], now=10.0)) == [("d", "1001")]


def test_lending_starts_once_the_reserved_lanes_caller_is_served():
    # the deputy takes the reserved seat's neighbour; then the deputy lane is empty and lending is allowed
    res = {"deputy": Reservation("deputy", ("1001",), lend_after_s=0)}
    seats = [seat("1001", {"general": 5}, 0.0), seat("1002", DEP, 1.0)]
    calls = [call("d", "deputy", 10.0), call("g", "general", 5.0)]
    assert pairs(decide(rules(res), seats, calls, now=20.0)) == [("d", "1002"), ("g", "1001")]


def test_unknown_lanes_are_never_matched_and_decide_respects_limit():
    seats = [seat("1", GEN, 0.0), seat("2", GEN, 1.0)]
    calls = [call("x", "nowhere", 0.0), call("a", "general", 1.0), call("b", "general", 2.0)]
    assert pairs(decide(rules(), seats, calls, now=5.0)) == [("a", "1"), ("b", "2")]
    assert pairs(decide(rules(), seats, calls, now=5.0, limit=1)) == [("a", "1")]


def test_scores_order_like_the_rules():
    assert wait_score(2, 100.0) < wait_score(1, 50.0) < wait_score(1, 60.0)
    assert wait_score(-1, 0.0) > wait_score(0, 10_000.0)
    assert seat_score(10.0, 9) < seat_score(10.0, 2) < seat_score(10.001, 10)
    assert to_ms(1.0005) in (1000, 1001) and to_ms(2.5) == 2500


def test_estimated_wait_and_announcement():
    assert estimate_wait(1, 4, [100.0, 140.0], 240) == 30
    assert estimate_wait(6, 2, [], 240) == 720
    assert estimate_wait(3, 0, [60.0], 240) == 180
    assert estimate_wait(0, 3, [60.0], 240) == 0
    assert wait_announcement(1, 30) == "您已排在第一位，坐席空闲后将立即为您接通，请稍候。"
    assert wait_announcement(4, 125) == "您前面还有3位来电者，预计等待约3分钟，请稍候。"
    assert "约1分钟" in wait_announcement(2, 5)


def test_repeat_boost():
    rule = RepeatBoost(within_days=3, boost=2, min_calls=2)
    now = 10 * 86400.0
    assert repeat_boost([now - 3600, now - 86400], now, rule) == 2
    assert repeat_boost([now - 3600, now - 4 * 86400], now, rule) == 0
    assert repeat_boost([now - 3600] * 5, now, None) == 0
