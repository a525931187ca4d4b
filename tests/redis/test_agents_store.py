"""The routing store on a real Redis: Lua agrees with the pure policy, atomic seat changes, scripts."""
import json
import random
from types import MappingProxyType

import pytest

from agents.config import Reservation, SeatsConfig
from agents.errors import (
    AlreadyLoggedIn,
    CallStateError,
    DuplicateCall,
    InvalidTransition,
    NotLoggedIn,
    SeatBusy,
    UnknownCall,
)
from agents.events import all_events, seat_log
from agents.model import Operator, Seat, SeatState, WaitingCall
from agents.policy import Rules, decide
from agents.store import RoutingStore
from ivr.model import Lane, Overflow


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_config(skills: dict[str, dict[str, int]], reserved=None, **kw) -> SeatsConfig:
    """One operator per seat: seat S is worked by operator "op-S" with these skills."""
    seats = {s: Seat(s, f"seat {s}", s) for s in skills}
    ops = {f"op-{s}": Operator(f"op-{s}", f"operator {s}", MappingProxyType(k)) for s, k in skills.items()}
    return SeatsConfig(seats=MappingProxyType(seats), operators=MappingProxyType(ops),
                       reserved=MappingProxyType(reserved or {}), **kw)


def key_of(assignments):
    return [(a.call_id, a.seat_id, a.lane, a.overflowed) for a in assignments]


# ---------------------------------------------------------------- Lua == policy


THRESHOLDS = [0, 5, 20, 45.5, 60, 120]  # overflow and lending times (s); calls wait exactly these, too


def random_scenario(rng: random.Random):
    n_lanes = rng.randint(1, 4)
    ids = [f"l{i}" for i in range(n_lanes)]
    lanes = []
    for lid in ids:
        ovf = None
        others = [x for x in ids if x != lid]
        if others and rng.random() < 0.6:
            ovf = Overflow(rng.choice(THRESHOLDS), rng.choice(others))
        lanes.append(Lane(lid, lid, rng.choice([1, 1, 2, 5, 9]), ovf))
    seat_ids = rng.sample(["1", "2", "9", "10", "11", "100", "a", "b", "s1", "s10"], rng.randint(1, 8))
    skills = {}
    for s in seat_ids:
        chosen = rng.sample(ids, rng.randint(1, n_lanes))
        skills[s] = {ln: rng.randint(1, 10) for ln in chosen}
    reserved = {}
    for s in rng.sample(seat_ids, rng.randint(0, min(2, len(seat_ids)))):
        lane = rng.choice(ids)
        lend = rng.choice([None, *THRESHOLDS])
        prev = reserved.get(lane)
        reserved[lane] = Reservation(lane, (prev.seats if prev else ()) + (s,), lend if not prev else prev.lend_after_s)
    return lanes, skills, reserved


async def test_lua_agrees_with_policy_on_random_scenarios(redis_client):
    for seed in range(120):
        rng = random.Random(seed)
        prefix = f"agree{seed}"
        lanes, skills, reserved = random_scenario(rng)
        cfg = make_config(skills, reserved)
        clock = Clock(1000.0)
        store = RoutingStore(redis_client, cfg, prefix=prefix, clock=clock)
        rules = Rules.build(lanes, cfg)
        lane_ids = [ln.id for ln in lanes]
        n_calls = 0
        for rnd in range(3):
            # seats become ready at random (often equal) times
            for s in skills:
                st = await store.seat(s)
                if st.state == SeatState.LOGGED_OUT and rng.random() < 0.8:
                    clock.t = 1000.0 + rnd * 200 + rng.choice([0, 1, 1, 2.5, 7, rng.uniform(0, 100)])
                    await store.login(s, f"op-{s}", skills[s])
                elif st.state == SeatState.RINGING and rng.random() < 0.6:
                    clock.t = 1000.0 + rnd * 200 + 100 + rng.uniform(0, 50)
                    await store.call_op("answered", st.call_id)
                    await store.call_op("ended", st.call_id, wrap_ms=0)
            now = 1000.0 + rnd * 200 + 180
            for _ in range(rng.randint(0, 12)):
                n_calls += 1
                at = now - rng.choice([*THRESHOLDS, 3, 3, 170, rng.uniform(0, 170)])
                at = round(at, rng.choice([0, 3]))
                call = WaitingCall(f"c{rng.randint(0, 10**6)}-{n_calls}", rng.choice(lane_ids), "13800001234",
                                   at, priority=rng.choice([0, 0, 0, 1, 3]), boost=rng.choice([0, 0, 1]))
                await store.enqueue(call, now=at)
            seats = await store.ready_seats()
            calls = await store.waiting_calls(lane_ids)
            expected = decide(rules, seats, calls, now)
            got = await store.match(rules, limit=rng.choice([1, 3, 100]), now=now)
            more = await store.match(rules, limit=100, now=now)
            while more:
                got += more
                more = await store.match(rules, limit=100, now=now)
            assert key_of(got) == key_of(expected), f"seed {seed} round {rnd}"
            assert all(a.operator_id == f"op-{a.seat_id}" for a in got)


# ---------------------------------------------------------------- seat state machine


LANES = [Lane("deputy", "人大代表通道", 9), Lane("enterprise", "政企通专席", 5, Overflow(90, "general")),
         Lane("general", "综合受理", 1)]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(redis_client, clock):
    cfg = make_config({"1001": {"general": 5}, "1002": {"general": 5, "enterprise": 7}})
    return RoutingStore(redis_client, cfg, prefix="t", clock=clock)


async def test_seat_transitions_are_checked_and_logged(store, clock, redis_client):
    with pytest.raises(NotLoggedIn):
        await store.seat_op("ready", "1001")
    await store.login("1001", "op-1001", {"general": 5}, reason="培训")
    st = await store.seat("1001")
    assert (st.state, st.reason, st.operator_id) == (SeatState.PAUSED, "培训", "op-1001")
    with pytest.raises(AlreadyLoggedIn):
        await store.login("1001", "op-1001", {"general": 5})
    with pytest.raises(AlreadyLoggedIn) as err:
        await store.login("1002", "op-1001", {"general": 5})
    assert err.value.details["other_seat"] == "1001"
    clock.t += 10
    await store.seat_op("ready", "1001")
    assert (await store.seat("1001")).idle_since == clock.t
    assert (await store.seat_op("ready", "1001"))["unchanged"] is True
    await store.seat_op("pause", "1001", reason="小休")
    with pytest.raises(InvalidTransition):
        await store.seat_op("wrap_up", "1001", wrap_ms=1)  # a paused seat has no call to wrap up
    await store.seat_op("ready", "1001")
    await store.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    [a] = await store.match(Rules.build(LANES, store.config))
    assert a.seat_id == "1001"
    for op, kw in (("ready", {}), ("pause", {"reason": "小休"}), ("logout", {}), ("wrap_up", {"wrap_ms": 5})):
        with pytest.raises(SeatBusy):
            await store.seat_op(op, "1001", **kw)
    await store.call_op("answered", "c1")
    clock.t += 42
    await store.call_op("ended", "c1", wrap_ms=0)
    await store.seat_op("logout", "1001")
    assert await store.operator_seat("op-1001") is None
    log = await seat_log(redis_client, "t")
    assert [(e["from"], e["to"]) for e in log] == [
        ("logged_out", "paused"), ("paused", "ready"), ("ready", "paused"), ("paused", "ready"),
        ("ready", "ringing"), ("ringing", "on_call"), ("on_call", "ready"), ("ready", "logged_out")]
    assert log[-2]["ts"] == clock.t and log[0]["reason"] == "培训"
    assert all(e["seat"] == "1001" and e["operator"] == "op-1001" for e in log)
    # the ready sets follow the states
    assert await redis_client.zrange("t:ready:general", 0, -1) == []


async def test_call_operations_check_the_call_state(store, clock):
    await store.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    with pytest.raises(DuplicateCall):
        await store.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    for op, kw in (("answered", {}), ("ended", {"wrap_ms": 0}), ("no_answer", {})):
        with pytest.raises(CallStateError):
            await store.call_op(op, "c1", **kw)
    with pytest.raises(UnknownCall):
        await store.call_op("answered", "nope")
    await store.call_op("cancel", "c1", reason="removed")
    with pytest.raises(CallStateError):
        await store.call_op("cancel", "c1", reason="removed")
    # an ended call may come back under the same id (e.g. a retried id)
    assert await store.enqueue(WaitingCall("c1", "general", "13800001234", clock.t)) == 1


async def test_scripts_reload_after_script_flush(store, clock, redis_client):
    await store.load_scripts()
    await redis_client.script_flush()
    await store.login("1001", "op-1001", {"general": 5})
    await redis_client.script_flush()
    await store.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    await redis_client.script_flush()
    assert [a.seat_id for a in await store.match(Rules.build(LANES, store.config))] == ["1001"]


async def test_prefixes_keep_hotlines_apart(redis_client, clock):
    cfg = make_config({"1001": {"general": 5}})
    a = RoutingStore(redis_client, cfg, prefix="city-a", clock=clock)
    b = RoutingStore(redis_client, cfg, prefix="city-b", clock=clock)
    await a.login("1001", "op-1001", {"general": 5})
    await b.enqueue(WaitingCall("c1", "general", "13800001234", clock.t))
    rules = Rules.build(LANES, cfg)
    assert await a.match(rules) == [] and await b.match(rules) == []
    assert all(k.startswith(("city-a:", "city-b:")) for k in await redis_client.keys("*"))


async def test_assignment_goes_to_the_node_inbox_and_event_before_ringing(store, clock, redis_client):
    await store.login("1002", "op-1002", {"general": 5, "enterprise": 7})
    await store.enqueue(WaitingCall("c1", "enterprise", "13800001234", clock.t, node="ctl-2"))
    [a] = await store.match(Rules.build(LANES, store.config))
    assert await store.pop_assignment("ctl-1") is None
    assert await store.pop_assignment("ctl-2") == a
    assert await store.pop_assignment("ctl-2", timeout=0.05) is None
    events = [e for _, e in await all_events(redis_client, "t")]
    assert [e["type"] for e in events] == ["seat_state", "call_queued", "seat_state", "call_assigned"]
    assigned = events[-1]
    assert assigned["seat_id"] == "1002" and assigned["call_id"] == "c1" and assigned["ts"] == clock.t
    assert "13800001234" not in json.dumps(events)  # no caller numbers in events
    assert (await store.call("c1")).caller == "13800001234"


async def test_wait_score_limits(store, clock):
    with pytest.raises(ValueError):
        await store.enqueue(WaitingCall("c1", "general", None, clock.t, priority=2000))
    with pytest.raises(ValueError):
        await store.enqueue(WaitingCall("c2", "general", None, -5.0))
