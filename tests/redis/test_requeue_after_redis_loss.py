"""The calls waiting on this controller put back in their lanes after Redis lost its data
(agents/delivery.py Dispatcher.requeue_lost): in their places by first arrival, a call being rung
(its assignment delivered) left alone, a call known again not enqueued twice."""
from __future__ import annotations

from types import MappingProxyType

from agents.config import SeatsConfig
from agents.delivery import Dispatcher
from agents.model import CallPhase, Operator, Seat, WaitingCall
from agents.service import Router
from agents.store import RoutingStore
from tests.redis.test_web_reports import LANES, TODAY, Clock, noon


async def test_waiting_calls_come_back_in_their_places(redis_client):
    clock = Clock(noon(TODAY))
    ops = {"7001": Operator("7001", "工号7001", MappingProxyType({"general": 5}))}
    cfg = SeatsConfig(seats=MappingProxyType({"1001": Seat("1001", "坐席1001", "1001")}),
                      operators=MappingProxyType(ops), repeat_caller=None, wrap_up_s=0)
    store = RoutingStore(redis_client, cfg, prefix="hotline", clock=clock)
    await store.load_scripts()
    router = Router(store, LANES)
    d = Dispatcher(router, "n1")
    for i, cid in enumerate(("early", "late", "rung")):
        d.expect(cid)
        d.held[cid] = WaitingCall(cid, "general", f"1380000000{i}", arrived_at=clock.t, node="n1")
        await router.enqueue(d.held[cid])
        clock.t += 10
    d.waiting["rung"].set_result(None)         # its seat is being rung: not waiting any more
    await redis_client.flushall()
    assert await router.call("early") is None
    assert sorted(await d.requeue_lost()) == ["early", "late"]
    assert [await router.position(c) for c in ("early", "late")] == [1, 2]
    assert (await router.call("late")).phase == CallPhase.WAITING and await router.call("rung") is None
    assert await d.requeue_lost() == []                          # known again: left as they are
    assert [await router.position(c) for c in ("early", "late")] == [1, 2]
    d.forget("late")
    assert not await d.enqueue_held("late")                      # no longer held here: nothing
    assert await router.position("late") == 2
