"""SeatService and Router on a real Redis: the routing scenarios of issue 4, with an injected clock."""
import asyncio
from types import MappingProxyType

import pytest

from agents.config import CallbackSettings, RepeatBoost, SeatsConfig
from agents.errors import (
    CallStateError,
    NotLoggedIn,
    SeatBusy,
    UnknownLane,
    UnknownOperator,
    UnknownPauseReason,
    UnknownSeat,
)
from agents.events import Stats, all_events, stats_today
from agents.model import CallPhase, CancelReason, Operator, Seat, SeatState, WaitingCall
from agents.service import PBX_IDLE, PBX_IN_USE, PBX_UNAVAILABLE, Router, SeatService
from agents.store import RoutingStore
from ivr.model import Lane, Overflow

T0 = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00
LANES = [Lane("deputy", "人大代表通道", 9), Lane("enterprise", "政企通专席", 5, Overflow(90, "general")),
         Lane("general", "综合受理", 1)]
GEN, ENT, DEP = {"general": 5}, {"enterprise": 7, "general": 5}, {"deputy": 8, "general": 6}


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def config(skills, **kw) -> SeatsConfig:
    seats = {s: Seat(s, f"seat {s}", s) for s in skills}
    ops = {f"op{s}": Operator(f"op{s}", f"工号{s}", MappingProxyType(k)) for s, k in skills.items()}
    kw.setdefault("repeat_caller", None)
    return SeatsConfig(seats=MappingProxyType(seats), operators=MappingProxyType(ops), **kw)


class Hotline:
    def __init__(self, redis, skills, **kw) -> None:
        self.clock = Clock()
        self.redis = redis
        self.store = RoutingStore(redis, config(skills, **kw), prefix="hl", clock=self.clock)
        self.router = Router(self.store, LANES)
        self.seats = SeatService(self.store, notify=self.router.poke)

    def at(self, dt: float) -> float:
        self.clock.t = T0 + dt
        return self.clock.t

    async def login_all(self, *seat_ids, step: float = 0.0):
        for s in seat_ids:
            await self.seats.login(s, f"op{s}")
            self.clock.t += step

    async def call(self, cid, lane="general", caller="13800001234", **kw) -> int:
        return await self.router.enqueue(WaitingCall(cid, lane, caller, self.clock.t, **kw))

    async def match(self):
        return [(a.call_id, a.seat_id) for a in await self.router.match()]

    async def talk(self, cid, seconds: float = 60.0, wrap: float = 0.0):
        await self.router.answered(cid)
        self.clock.t += seconds
        await self.router.ended(cid, wrap_up_s=wrap)


@pytest.fixture
def hotline_factory(redis_client):
    return lambda skills, **kw: Hotline(redis_client, skills, **kw)


async def test_deputy_arriving_after_a_general_caller_who_waited_30s_gets_the_next_seat(hotline_factory):
    h = hotline_factory({"1001": DEP})
    await h.login_all("1001")
    await h.call("busy")
    assert await h.match() == [("busy", "1001")]
    await h.router.answered("busy")
    await h.call("gen")
    h.at(30)
    await h.call("dep", "deputy", "13800001001")
    assert await h.match() == []
    h.at(31)
    await h.router.ended("busy", wrap_up_s=0)
    assert await h.match() == [("dep", "1001")]


async def test_enterprise_to_enterprise_seat_then_overflow_to_general(hotline_factory):
    h = hotline_factory({"1002": ENT, "1005": GEN})
    await h.login_all("1005", "1002", step=1)  # the general seat idles longer
    await h.call("e1", "enterprise")
    assert await h.match() == [("e1", "1002")]
    await h.router.answered("e1")
    arrived = h.clock.t
    await h.call("e2", "enterprise")
    h.clock.t = arrived + 89.9
    assert await h.match() == []
    h.clock.t = arrived + 90
    [a] = await h.router.match()
    assert (a.call_id, a.seat_id, a.lane, a.overflowed) == ("e2", "1005", "enterprise", True)


async def test_fifty_calls_five_seats_in_arrival_order_spread_by_idle_time(hotline_factory):
    seats = ["1004", "1005", "1006", "1007", "1008"]
    h = hotline_factory({s: GEN for s in seats})
    await h.login_all(*reversed(seats), step=1)  # 1008 idle longest
    for i in range(50):
        await h.call(f"c{i:02d}")
        h.clock.t += 0.5
    order, used = [], {s: 0 for s in seats}
    talking: dict[str, float] = {}
    talk_s = [40, 75, 55, 90, 60, 45, 80]
    for _ in range(600):
        ready = sorted(await h.store.ready_seats(), key=lambda s: (s.idle_since, s.seat_id))
        got = await h.router.match()
        for a in got:
            assert a.seat_id == ready.pop(0).seat_id  # the longest-idle ready seat
            order.append(a.call_id)
            used[a.seat_id] += 1
            await h.router.answered(a.call_id)
            talking[a.call_id] = h.clock.t + talk_s[len(order) % len(talk_s)]
        h.clock.t += 1
        for cid, end in list(talking.items()):
            if end <= h.clock.t:
                await h.router.ended(cid, wrap_up_s=0)
                del talking[cid]
        if len(order) == 50:
            break
    assert order == [f"c{i:02d}" for i in range(50)]
    assert all(7 <= n <= 13 for n in used.values()), used


async def test_ring_no_answer_requeues_at_the_head_and_pauses_the_seat(hotline_factory):
    h = hotline_factory({"1004": GEN, "1005": GEN})
    await h.login_all("1004")
    for cid in ("c1", "c2", "c3"):
        await h.call(cid)
        h.clock.t += 1
    assert await h.match() == [("c1", "1004")]
    assert await h.router.position("c2") == 1
    h.clock.t += 20
    assert await h.router.requeue_front("c1") == 1
    st = await h.seats.status("1004")
    assert (st.state, st.reason) == (SeatState.PAUSED, "未接")
    assert [await h.router.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
    await h.login_all("1005")
    assert await h.match() == [("c1", "1005")]
    with pytest.raises(UnknownPauseReason):
        await h.seats.pause("1004", "未接")  # a system reason: operators cannot choose it
    await h.seats.ready("1004")
    assert await h.match() == [("c2", "1004")]
    day = await Stats(h.redis, prefix="hl", clock=h.clock).today(seat="1004")
    assert (day["rang"], day["no_answer"]) == (2, 1)


async def test_callback_request_keeps_place_and_retries_then_goes_on_the_list(hotline_factory):
    h = hotline_factory({"1004": GEN}, callback=CallbackSettings(offer_after_s=60, max_attempts=2, retry_after_s=300))
    for cid in ("c1", "c2", "c3"):
        await h.call(cid, caller=f"1380000{cid[-1]}000")
        h.clock.t += 1
    h.clock.t += 60
    assert await h.router.request_callback("c2", "13912345678") == 2
    await h.call("c4")
    await h.login_all("1004")
    assert await h.match() == [("c1", "1004")]
    await h.talk("c1")
    [a] = await h.router.match()
    assert (a.call_id, a.callback) == ("c2", True)
    assert (await h.router.call("c2")).callback_number == "13912345678"
    # the seat answers the originate, the citizen does not: retried later, keeping the place
    await h.router.answered("c2")
    assert await h.router.callback_failed("c2") is True
    assert (await h.router.call("c2")).phase == CallPhase.DEFERRED
    assert (await h.seats.status("1004")).state == SeatState.READY
    assert await h.match() == [("c3", "1004")]
    await h.talk("c3")
    h.clock.t += 300
    assert await h.match() == [("c2", "1004")]   # back in its place, ahead of c4
    assert await h.router.callback_failed("c2") is False
    missed = await h.router.missed_calls()
    assert [(m["call_id"], m["reason"], m["callback_number"], m["attempts"]) for m in missed] == [
        ("c2", "callback_failed", "13912345678", 2)]
    assert await h.match() == [("c4", "1004")]


async def test_callback_connected_is_counted_apart(hotline_factory):
    h = hotline_factory({"1004": GEN})
    await h.call("c1")
    assert await h.router.request_callback("c1") == 1  # the caller's own number by default
    assert (await h.router.call("c1")).callback_number == "13800001234"
    await h.login_all("1004")
    await h.match()
    await h.talk("c1", 100)
    day = await stats_today(h.redis, prefix="hl", clock=h.clock)
    assert (day["callback_requested"], day["callback_connected"], day["answered"]) == (1, 1, 0)
    assert day["avg_talk_s"] == 100.0


async def test_abandonment_is_counted_and_put_on_the_callback_list(hotline_factory):
    h = hotline_factory({"1004": GEN})
    await h.call("c1", caller="13800005555")
    h.clock.t += 40
    await h.router.cancel("c1", CancelReason.ABANDONED)
    await h.call("c2")
    await h.router.cancel("c2", "fallback")
    with pytest.raises(CallStateError):
        await h.router.cancel("c1")
    [m] = await h.router.missed_calls()
    assert (m["call_id"], m["caller"], m["reason"], m["waited_s"]) == ("c1", "13800005555", "abandoned", 40)
    day = await stats_today(h.redis, "general", prefix="hl", clock=h.clock)
    assert (day["offered"], day["abandoned"], day["abandon_rate"], day["avg_wait_s"]) == (2, 1, 1.0, 40.0)
    await h.router.callback_done("c1", seat_id="1004", result="reached")
    assert await h.router.missed_calls() == []
    types = [e["type"] for _, e in await all_events(h.redis, "hl")]
    assert types.count("call_abandoned") == 1 and "call_removed" in types and "callback_list_done" in types


async def test_abandoned_while_ringing_frees_the_seat_with_its_idle_time(hotline_factory):
    h = hotline_factory({"1004": GEN, "1005": GEN})
    await h.login_all("1004", "1005", step=5)
    await h.call("c1")
    assert await h.match() == [("c1", "1004")]
    h.clock.t += 3
    await h.router.cancel("c1")
    st = await h.seats.status("1004")
    assert st.state == SeatState.READY and st.idle_since == T0  # still the longest idle
    await h.call("c2")
    assert await h.match() == [("c2", "1004")]


async def test_wrap_up_ends_by_itself_or_early(hotline_factory):
    h = hotline_factory({"1004": GEN, "1005": GEN}, wrap_up_s=15)
    await h.login_all("1004", "1005")
    await h.call("c1")
    await h.call("c2")
    assert len(await h.match()) == 2
    await h.router.answered("c1")
    await h.router.answered("c2")
    h.at(100)
    await h.router.ended("c1")
    await h.router.ended("c2")
    st = await h.seats.status("1004")
    assert (st.state, st.wrap_until) == (SeatState.WRAP_UP, T0 + 115)
    await h.call("c3")
    h.at(110)
    assert await h.match() == []
    await h.seats.ready("1005")  # the operator ends wrap-up early
    assert await h.match() == [("c3", "1005")]
    await h.call("c4")
    h.at(116)
    assert await h.match() == [("c4", "1004")]
    day = await stats_today(h.redis, prefix="hl", clock=h.clock)
    assert day["wrap_ms"] == 15_000 + 10_000
    assert sorted(await h.store.handle_times("general")) == [110.0, 115.0]


async def test_seat_service_errors(hotline_factory):
    h = hotline_factory({"1004": GEN, "1005": GEN})
    with pytest.raises(UnknownSeat):
        await h.seats.login("9999", "op1004")
    with pytest.raises(UnknownOperator):
        await h.seats.login("1004", "op9999")
    with pytest.raises(UnknownPauseReason) as err:
        await h.seats.login("1004", "op1004", pause_reason="打游戏")
    assert "小休" in err.value.details["choices"]
    with pytest.raises(NotLoggedIn):
        await h.seats.pause("1004", "小休")
    st = await h.seats.login("1004", "op1004", pause_reason="会议")
    assert (st.state, st.reason) == (SeatState.PAUSED, "会议")
    await h.seats.ready("1004")
    await h.call("c1")
    await h.match()
    with pytest.raises(SeatBusy) as err:
        await h.seats.pause("1004", "小休")
    assert err.value.to_dict()["details"]["call_id"] == "c1"
    with pytest.raises(UnknownLane):
        await h.call("c2", "nowhere")
    assert {s.seat_id: s.state for s in await h.seats.seats()} == {
        "1004": SeatState.RINGING, "1005": SeatState.LOGGED_OUT}


async def test_position_estimated_wait_and_announcement(hotline_factory):
    h = hotline_factory({"1004": GEN, "1005": GEN}, default_handle_s=200)
    await h.login_all("1004", "1005")
    await h.seats.pause("1005", "用餐")
    for i in range(4):
        await h.call(f"c{i}")
    assert await h.match() == [("c0", "1004")]
    assert await h.router.position("c3") == 3
    assert await h.router.estimated_wait("c3") == 600  # 3 x 200 s / 1 staffed seat
    await h.talk("c0", 100)
    await h.seats.ready("1005")
    await h.match()
    assert await h.router.position("c3") == 1
    assert await h.router.estimated_wait("c3") == 50  # 1 x 100 s (recent) / 2 seats
    assert await h.router.announcement("c3") == "您已排在第一位，坐席空闲后将立即为您接通，请稍候。"
    assert await h.router.position("c1") is None and await h.router.estimated_wait("nope") is None
    snap = await h.router.snapshot()
    assert snap["waiting"] == {"deputy": 0, "enterprise": 0, "general": 1}
    assert snap["seats"]["ringing"] == 2


async def test_repeat_caller_moves_ahead(hotline_factory):
    h = hotline_factory({"1004": GEN}, repeat_caller=RepeatBoost(within_days=3, boost=1, min_calls=1))
    await h.call("yesterday", caller="13800007777")
    await h.router.cancel("yesterday", "removed")
    h.at(86400)
    await h.call("first", caller="13800008888")
    h.clock.t += 5
    await h.call("again", caller="+86 138 0000 7777")
    assert (await h.router.call("again")).boost == 1 and (await h.router.call("first")).boost == 0
    await h.login_all("1004")
    assert await h.match() == [("again", "1004")]
    assert not any(k.find("7777") >= 0 for k in await h.redis.keys("hl:history:*"))


async def test_service_figures_per_lane_seat_and_hour(hotline_factory):
    h = hotline_factory({"1004": GEN, "1002": ENT}, service_level_s=15)
    await h.login_all("1004", "1002")
    h.at(3600)  # 07:13 local
    await h.call("g1")
    await h.call("e1", "enterprise")
    h.clock.t += 10
    await h.match()
    await h.talk("g1", 120)
    h.clock.t += 10
    await h.talk("e1", 200)  # answered after 150 s
    await h.call("g2")
    h.clock.t += 30
    await h.router.cancel("g2")
    all_ = await stats_today(h.redis, prefix="hl", clock=h.clock)
    assert (all_["offered"], all_["answered"], all_["answered_sl"], all_["abandoned"]) == (3, 2, 1, 1)
    assert all_["answer_rate"] == round(2 / 3, 4) and all_["service_level"] == round(1 / 3, 4)
    assert all_["avg_handle_s"] == 160.0 and all_["avg_answer_s"] == 75.0
    assert list(all_["hours"]) == ["07"] and all_["hours"]["07"]["answered"] == 2
    ent = await stats_today(h.redis, "enterprise", prefix="hl", clock=h.clock)
    assert (ent["answered"], ent["answered_sl"], ent["service_level"]) == (1, 0, 0.0)
    seat = await stats_today(h.redis, seat="1004", prefix="hl", clock=h.clock)
    assert (seat["answered"], seat["talk_ms"]) == (1, 120_000)
    h.at(86400)
    assert (await stats_today(h.redis, prefix="hl", clock=h.clock))["offered"] == 0  # a new day


async def test_resync_after_controller_restart(hotline_factory):
    h = hotline_factory({s: GEN for s in ("1001", "1002", "1003", "1004", "1005", "1006")})
    await h.login_all("1001", "1002", "1003", "1004")
    for cid in ("gone-ringing", "live-ringing", "gone-talking", "live-talking", "gone-waiting", "live-waiting"):
        await h.call(cid)
        h.clock.t += 1
    assert len(await h.match()) == 4
    await h.router.answered("gone-talking")
    await h.router.answered("live-talking")
    await h.call("callback-waiting")
    await h.router.request_callback("callback-waiting")
    await h.login_all("1005", "1006")  # ready: 1005 (phone unregistered), 1006
    # the matcher would take the waiting calls now; resync first, as after a restart
    live = ["live-ringing", "live-talking", "live-waiting"]
    pbx = {"1001": PBX_IDLE, "1002": PBX_IDLE, "1003": PBX_UNAVAILABLE, "1004": PBX_IN_USE,
           "1005": PBX_UNAVAILABLE, "1006": PBX_IDLE}
    seat_of = {c: (await h.router.call(c)).seat_id for c in ("gone-ringing", "live-ringing", "gone-talking",
                                                             "live-talking")}
    rep = await h.router.resync(live, pbx)
    assert set(rep.calls_dropped) == {"gone-ringing", "gone-talking", "gone-waiting"}
    assert rep.calls_requeued == ("live-ringing",) and rep.calls_ended == ()
    assert rep.seats_offline == ("1005",)
    assert (await h.router.call("live-ringing")).phase == CallPhase.WAITING
    assert (await h.router.call("callback-waiting")).phase == CallPhase.WAITING
    assert (await h.router.call("gone-waiting")).end_reason == "lost"
    states = {s.seat_id: (s.state, s.reason) for s in await h.seats.seats()}
    assert states[seat_of["live-talking"]] == (SeatState.ON_CALL, "")
    for c, s in seat_of.items():
        if c != "live-talking":
            expected = (SeatState.PAUSED, "离线") if pbx[s] == PBX_UNAVAILABLE else (SeatState.READY, "")
            assert states[s] == expected, (s, c)
    assert states["1005"] == (SeatState.PAUSED, "离线")
    day = await stats_today(h.redis, prefix="hl", clock=h.clock)
    assert (day["lost"], day["abandoned"]) == (3, 0)
    # a seat stuck "on call" with a record that is gone (e.g. expired) is freed too
    await h.redis.delete("hl:call:live-talking")
    rep = await h.router.resync(live, pbx)
    assert seat_of["live-talking"] in rep.seats_freed
    assert not any(s.state in (SeatState.RINGING, SeatState.ON_CALL) for s in await h.seats.seats())


async def test_run_loop_matches_on_poke_and_delivers_to_the_node(hotline_factory):
    h = hotline_factory({"1004": GEN})
    task = asyncio.create_task(h.router.run(interval_s=0.5))
    try:
        await h.router.enqueue(WaitingCall("c1", "general", "13800001234", h.clock.t, node="ctl-a"))
        await h.seats.login("1004", "op1004")  # notify -> poke
        a = await h.router.next_assignment("ctl-a", timeout=2)
        assert (a.call_id, a.seat_id) == ("c1", "1004")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_cancel_with_callback_keeps_the_place_and_seat_status_dict(hotline_factory):
    h = hotline_factory({"1004": GEN})
    await h.call("c1")
    await h.call("c2")
    await h.router.cancel("c1", CancelReason.CALLBACK)
    st = await h.router.call("c1")
    assert (st.phase, st.callback, await h.router.position("c1")) == (CallPhase.WAITING, True, 1)
    d = (await h.seats.login("1004", "op1004")).to_dict()
    assert d["state"] == "ready" and d["skills"] == {"general": 5} and d["idle_since"] == h.clock.t


async def test_bench_smoke(redis_server, redis_client):
    from bench.routing_redis import run_bench

    out = await run_bench(redis_server.url, callers=60, lanes=3, seats=6, free_rate=5000)
    assert out["assignments"] == 60 and out["burst"]["assignments"] == 60
    assert out["decision_latency_ms"]["n"] == 60 and out["decision_latency_ms"]["p50"] > 0
    assert not await redis_client.keys("bench-*")  # its keys are removed


async def test_softphone_unregistering_and_coming_back(hotline_factory):
    """AMI DeviceStateChange of a seat's PJSIP endpoint (agents.phones): ready -> paused 离线 -> ready."""
    h = hotline_factory({"1005": GEN})
    await h.login_all("1005")
    st = await h.seats.phone_changed("1005", PBX_UNAVAILABLE)
    assert (st.state, st.reason) == (SeatState.PAUSED, "离线")
    assert await h.seats.phone_changed("1005", PBX_UNAVAILABLE) is None
    st = await h.seats.phone_changed("1005", PBX_IDLE)
    assert (st.state, st.reason) == (SeatState.READY, "")
    await h.seats.pause("1005", "小休")
    assert await h.seats.phone_changed("1005", PBX_IDLE) is None            # a pause the operator chose stays
    assert (await h.seats.status("1005")).reason == "小休"
