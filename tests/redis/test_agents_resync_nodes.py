"""Several controllers (nodes) on one Redis: a resync settles only what its own Asterisk can see.

Node A resyncs (start-up or AMI reconnect) while node B is alive with calls
waiting, ringing and talking, and node C stopped beating long ago: A's own
gone calls and C's calls are settled, B's are left exactly as they were.
"""
import asyncio
from types import MappingProxyType

from agents.config import SeatsConfig
from agents.model import CallPhase, Operator, Seat, SeatState, WaitingCall
from agents.service import PBX_IDLE, PBX_IN_USE, PBX_UNAVAILABLE, Router, SeatService
from agents.store import RoutingStore
from ivr.model import Lane

T0 = 1_700_000_000.0
LANES = [Lane("general", "综合受理", 1)]
SEATS = ("1001", "1002", "1003", "1004", "1005", "1006")


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _config() -> SeatsConfig:
    return SeatsConfig(seats=MappingProxyType({s: Seat(s, f"seat {s}", s) for s in SEATS}),
                       operators=MappingProxyType({f"op{s}": Operator(f"op{s}", s, MappingProxyType({"general": 5}))
                                                   for s in SEATS}),
                       repeat_caller=None, wrap_up_s=0)


async def _nodes(redis, names: str, logged_in: int):
    """A store and router per node (first node's store logs the first seats in)."""
    clock = Clock()
    stores = {n: RoutingStore(redis, _config(), prefix="hl", clock=clock) for n in names}
    routers = {n: Router(st, LANES) for n, st in stores.items()}
    await stores[names[0]].load_scripts()
    seats = SeatService(stores[names[0]])
    for s in SEATS[:logged_in]:
        await seats.login(s, f"op{s}")
    return clock, stores, routers, seats


async def _two_nodes_and_a_dead_one(redis):
    clock, stores, routers, seats = await _nodes(redis, "ab", 5)
    owners = {"a-gone": "a", "a-live": "a", "b-ring": "b", "b-talk": "b", "c-talk": "c",
              "b-wait": "b", "c-wait": "c", "c-cb": "c"}
    for cid, node in owners.items():
        await routers[node if node != "c" else "a"].enqueue(
            WaitingCall(cid, "general", "13800001234", clock.t, node=node))
        clock.t += 1
        if cid == "c-talk":
            assert len(await routers["a"].match()) == 5      # the first five calls ring the five seats
    await routers["a"].request_callback("c-cb")
    for cid in ("a-live", "b-talk", "c-talk"):
        await routers["a"].answered(cid)
    await seats.login("1006", "op1006")                      # ready; its phone is on B's Asterisk
    await stores["b"].claim_seats("b", ["1006"])
    seat_of = {cid: (await routers["a"].call(cid)).seat_id for cid in owners}
    await stores["a"].beat("a", now=clock.t)
    await stores["b"].beat("b", now=clock.t - 5)             # B beat 5 s ago
    await stores["a"].beat("c", now=clock.t - 100)           # C stopped 100 s ago
    return clock, stores, routers, seats, seat_of


async def _phases(router: Router, ids) -> dict[str, tuple[str, str, str]]:
    out = {}
    for cid in ids:
        st = await router.call(cid)
        out[cid] = (st.phase.value, st.end_reason, st.node)
    return out


async def test_resync_keeps_a_live_nodes_calls_and_settles_a_dead_nodes(redis_client):
    clock, stores, routers, seats, seat_of = await _two_nodes_and_a_dead_one(redis_client)
    b_calls = ("b-ring", "b-talk", "b-wait")
    b_before = await _phases(routers["b"], b_calls)
    b_seats = {seat_of["b-ring"]: SeatState.RINGING, seat_of["b-talk"]: SeatState.ON_CALL}
    # A's Asterisk: only a-live is up; every phone idle there (B's and C's seats are not on it)
    # but a-live's, and 1006 is not registered there at all.
    pbx = {s: PBX_IDLE for s in SEATS} | {seat_of["a-live"]: PBX_IN_USE, "1006": PBX_UNAVAILABLE}

    rep = await routers["a"].resync(["a-live"], pbx, node="a", dead_after_s=30)

    assert set(rep.calls_dropped) == {"a-gone", "c-talk"}
    assert rep.calls_node_failed == ("c-wait",)                        # C's waiting caller: to be called back
    assert set(rep.calls_elsewhere) == set(b_calls)
    assert rep.calls_adopted == ("c-cb",)
    assert rep.calls_requeued == rep.calls_ended == rep.seats_offline == ()
    assert await _phases(routers["b"], b_calls) == b_before            # B's calls untouched
    assert b_before["b-ring"][0] == "ringing" and b_before["b-talk"][0] == "on_call"
    after = await _phases(routers["a"], ("a-gone", "a-live", "c-talk", "c-wait", "c-cb"))
    assert after == {"a-gone": ("ended", "lost", "a"), "a-live": ("on_call", "", "a"),
                     "c-talk": ("ended", "lost", "c"), "c-wait": ("ended", "node_failed", "c"),
                     "c-cb": ("waiting", "", "a")}                    # the callback keeps its place, now A's
    states = {s.seat_id: s.state for s in await seats.seats()}
    for seat, state in b_seats.items():
        assert states[seat] == state, seat                            # B's seats still ringing / on a call
    assert states[seat_of["a-gone"]] == states[seat_of["c-talk"]] == SeatState.READY
    assert states["1006"] == SeatState.READY                          # B's phone: not paused 离线 by A

    # the same resync without node ownership (one controller) would have taken B's calls too
    legacy = await routers["a"].resync(["a-live"], pbx)
    assert set(legacy.calls_dropped) == set(b_calls)
    missed = {m["call_id"]: m["reason"] for m in await stores["a"].missed()}
    assert missed == {"c-wait": "节点故障"}


async def test_two_survivors_put_a_dead_nodes_callers_on_the_callback_list_once(redis_client):
    """Node C dies with callers ringing and waiting; B and D (both alive) sweep at the same moment:
    each of C's callers is on the callback list (节点故障) once, and told to one survivor's hook once."""
    clock, stores, routers, _ = await _nodes(redis_client, "bcd", 2)
    ids = [f"c-{i}" for i in range(8)]
    for cid in ids:
        await routers["c"].enqueue(WaitingCall(cid, "general", "13800001234", clock.t, node="c"))
        clock.t += 1
    assert len(await routers["b"].match()) == 2                   # two of them ringing seats (on C's Asterisk)
    await routers["b"].answered(ids[0])                            # one talking: lost with C, not a callback
    await stores["b"].beat("b", now=clock.t)
    await stores["d"].beat("d", now=clock.t)
    await stores["c"].beat("c", now=clock.t - 100)
    told: dict[str, list[str]] = {"b": [], "d": []}

    def hook(n: str):
        async def on_failed(call_ids: tuple[str, ...]) -> None:
            told[n].extend(call_ids)
        return on_failed

    done = await asyncio.gather(*(routers[n].take_over(n, ["c"], 30, hook(n)) for n in ("b", "d")))
    assert sorted(done) == [False, True]                           # one survivor held the lock
    for n in ("b", "d"):                                           # and a later sweep finds nothing left
        await routers[n].take_over(n, ["c"], 30, hook(n))
    assert sorted(told["b"] + told["d"]) == sorted(ids[1:])        # each caller once
    missed = await stores["b"].missed()
    assert sorted(m["call_id"] for m in missed) == sorted(ids[1:])
    assert {m["reason"] for m in missed} == {"节点故障"}
    phases = await _phases(routers["b"], ids)
    assert phases[ids[0]] == ("ended", "lost", "c")
    assert all(phases[c] == ("ended", "node_failed", "c") for c in ids[1:])
    assert {s.state for s in await stores["b"].seats(SEATS[:2])} == {SeatState.READY}   # the seats they rang: free
    assert "c" not in await stores["b"].node_beats()


async def test_heartbeat_sweep_settles_the_calls_of_a_node_that_stops_beating(redis_client):
    clock, stores, routers, seats, seat_of = await _two_nodes_and_a_dead_one(redis_client)
    await routers["a"].resync(["a-live"], {seat_of["a-live"]: PBX_IN_USE}, node="a", dead_after_s=30)
    clock.t += 31                                           # A stops beating; B goes on
    task = asyncio.create_task(routers["b"].keep_alive("b", 30, interval_s=0.05))
    try:
        async def settled():
            while "a" in await stores["b"].node_beats():     # forgotten once its calls are settled
                await asyncio.sleep(0.05)
        await asyncio.wait_for(settled(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    got = await _phases(routers["b"], ("a-live", "c-cb", "b-ring", "b-talk", "b-wait"))
    assert got == {"a-live": ("ended", "lost", "a"), "c-cb": ("waiting", "", "b"),
                   "b-ring": ("ringing", "", "b"), "b-talk": ("on_call", "", "b"), "b-wait": ("waiting", "", "b")}
    assert (await stores["b"].node_beats())["b"] == clock.t
    assert (await seats.status(seat_of["a-live"])).state == SeatState.READY
    assert (await seats.status(seat_of["b-talk"])).state == SeatState.ON_CALL
    assert CallPhase.RINGING.value == got["b-ring"][0]


async def test_a_call_enqueued_after_the_matchers_clock_read_is_matched_not_an_error(redis_client):
    """The bench hang: a match reads its clock, a call is enqueued with a later arrival before the
    match script runs; the script chose that call and found "no seat" (a Lua error that killed
    the matcher loop). Such a call has waited 0 ms: it gets a ready seat with no threshold."""
    clock = Clock()
    store = RoutingStore(redis_client, _config(), prefix="hl", clock=clock)
    await store.load_scripts()
    router, seats = Router(store, LANES), SeatService(store)
    await seats.login("1001", "op1001")
    await router.enqueue(WaitingCall("later", "general", "13800001234", clock.t + 0.05))   # 50 ms "ahead"
    got = await store.match(router.rules, now=clock.t)
    assert [(a.call_id, a.seat_id) for a in got] == [("later", "1001")]
