"""agents/phones.py, agents/resync.py, agents/lanes.py on fakes."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from agents.lanes import LaneFollower
from agents.phones import PhoneWatch
from agents.resync import Resync
from agents.service import PBX_IDLE, PBX_UNAVAILABLE
from pbx.ami import AMIError, AMIEvent
from pbx.events import CoreShowChannel, DeviceState, parse_event


class FakeStore:
    def __init__(self) -> None:
        self.claimed: list[tuple[str, list[str]]] = []

    async def claim_seats(self, node: str, seats: list[str]) -> None:
        self.claimed.append((node, list(seats)))


class FakeSeats:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.changes: list[tuple[str, str]] = []

    async def phone_changed(self, seat_id: str, state: str) -> None:
        self.changes.append((seat_id, state))


async def test_phone_watch_claims_registered_seats_and_reports_state():
    seats = FakeSeats()
    watch = PhoneWatch(seats, "n1", ["1001", "1002"])
    def ev(device: str, state: str):
        return parse_event(AMIEvent("DeviceStateChange", {"Device": device, "State": state}))
    assert watch.on_event(ev("PJSIP/9999", "NOT_INUSE")) is None
    await watch.on_event(ev("PJSIP/1001", "NOT_INUSE"))
    await watch.on_event(ev("PJSIP/1002", "UNAVAILABLE"))
    await watch.on_event(ev("PJSIP/1002", "UNKNOWN"))
    assert seats.store.claimed == [("n1", ["1001"])]          # an unregistered phone is not claimed
    assert seats.changes == [("1001", PBX_IDLE), ("1002", PBX_UNAVAILABLE)]


class FakeRouter:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.resynced: list = []
        self.rules = SimpleNamespace(lanes={"general": SimpleNamespace(id="general", priority=1, overflow=None)})
        self.config = None
        self.poked = 0

    async def resync(self, live, pbx, *, node, dead_after_s):
        self.resynced.append((live, pbx, node, dead_after_s))
        return {"freed": 0}

    def poke(self) -> None:
        self.poked += 1


class FakePbx:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def core_show_channels(self):
        if self.fail:
            raise AMIError("not connected")
        return [CoreShowChannel("PJSIP/1001-0001", uniqueid="u1", linkedid="l1")]

    async def device_state(self, device: str) -> DeviceState:
        return {"PJSIP/1001": DeviceState.INUSE, "PJSIP/1002": DeviceState.UNAVAILABLE}.get(
            device, DeviceState.INVALID)


async def test_resync_waits_for_boot_then_lines_redis_up():
    router, booted = FakeRouter(), []

    async def boot():
        booted.append(True)
    sync = Resync(router, FakePbx(), node="n1", seat_ids=["1001", "1002", "1003"], demo_seats=["1003"],
                  dead_after_s=15, booted=boot)
    await sync()
    assert booted == [True]
    assert router.store.claimed == [("n1", ["1001"])]
    ((live, pbx, node, dead),) = router.resynced
    assert live == {"u1", "l1"} and node == "n1" and dead == 15
    assert pbx["1002"] == PBX_UNAVAILABLE and "1003" in pbx      # the demo seat from its Local channels


async def test_resync_is_skipped_without_ami(caplog):
    router = FakeRouter()
    await Resync(router, FakePbx(fail=True), node="n1", seat_ids=["1001"], demo_seats=[], dead_after_s=15)()
    assert router.resynced == [] and "resync skipped" in caplog.text


async def test_lane_follower_takes_a_newer_published_tree(monkeypatch):
    import agents.lanes as lanes_mod

    router = FakeRouter()
    built = []
    monkeypatch.setattr(lanes_mod.Rules, "build", staticmethod(lambda lanes, config: built.append(lanes) or
                                                                SimpleNamespace(lanes=lanes)))
    versions = SimpleNamespace(number=3)

    async def current_number():
        return versions.number
    new_lane = SimpleNamespace(id="deputy", priority=9, overflow=None)

    async def get(number):
        return SimpleNamespace(tree=SimpleNamespace(lanes={"deputy": new_lane}))
    follower = LaneFollower(router, SimpleNamespace(current_number=current_number), SimpleNamespace(get=get),
                            version=3, interval_s=0.01)
    await follower.check()
    assert built == [] and router.poked == 0          # the same version: nothing to do
    versions.number = 4
    task = asyncio.create_task(follower.run())
    for _ in range(100):
        if follower.version == 4:
            break
        await asyncio.sleep(0.01)
    assert not task.done()                            # (the loop goes on after a change)
    task.cancel()
    assert follower.version == 4 and router.poked == 1
    assert set(built[0]) == {"general", "deputy"}      # a lane the newer tree dropped is kept


async def test_with_the_seats_registered_at_the_edge_no_seat_is_claimed_or_judged_offline_here():
    """edge.registrar: a node's device states come from fixed contacts at Kamailio, not registrations."""
    router = FakeRouter()
    await Resync(router, FakePbx(), node="n1", seat_ids=["1001", "1002"], demo_seats=[], dead_after_s=15,
                 registrar_here=False)()
    assert router.store.claimed == []
    ((_, pbx, _, _),) = router.resynced
    assert pbx["1002"] == PBX_IDLE, "an unavailable device here does not make the seat 离线"
    assert pbx["1001"] != PBX_IDLE, "a call in progress on this node is still seen"
