"""The live hub's fan-out without Redis or sockets: what is queued for a page
goes out in one frame (one object, or an array when several were queued),
frames are paced by `flush_s` under load, the queue is bounded, a stuck page
is dropped, and an operator only gets their seat's events."""
import asyncio
import json
import time

from web.accounts import Role, User
from web.live import Client, LiveHub, LiveSettings
from web.metrics import Metrics

SUP = User("u1", "sup", "班长", Role.SUPERVISOR)
OP = User("u2", "op", "话务员", Role.OPERATOR, operator_id="7001")


class Page:
    """A socket that records the frames written to it."""

    closed = False

    def __init__(self) -> None:
        self.frames: list[tuple[float, str]] = []

    async def send_str(self, text: str) -> None:
        self.frames.append((time.monotonic(), text))

    def events(self) -> list[dict]:
        out = []
        for _t, text in self.frames:
            data = json.loads(text)
            out.extend(data if isinstance(data, list) else [data])
        return out


class Stuck:
    closed = False

    async def send_str(self, text: str) -> None:
        await asyncio.Event().wait()


async def hub_with(settings: LiveSettings) -> tuple[LiveHub, Metrics, asyncio.Task]:
    metrics = Metrics()
    hub = LiveHub(None, metrics, settings)  # type: ignore[arg-type]   # no Redis: events are dispatched here
    return hub, metrics, asyncio.create_task(hub.flusher())


async def stop(hub: LiveHub, flusher: asyncio.Task) -> None:
    flusher.cancel()
    writers = [c.writer for c in hub.clients if c.writer is not None]
    for c in list(hub.clients):
        hub.leave(c)
    await asyncio.gather(flusher, *writers, return_exceptions=True)


async def test_what_is_queued_goes_in_one_frame_and_a_lone_event_as_an_object():
    hub, metrics, flusher = await hub_with(LiveSettings(flush_s=0.02))
    sup, op = Client(SUP, Page()), Client(OP, Page(), seat="1001")   # type: ignore[arg-type]
    hub.join(sup), hub.join(op)
    try:
        for i in range(5):                                   # read off Redis in one go
            await hub.dispatch({"type": "call_answered", "seq": i, "seat_id": "1001" if i % 2 else "1002"},
                               "events")
        await asyncio.sleep(0.1)
        assert len(sup.ws.frames) == 1
        batch = json.loads(sup.ws.frames[0][1])
        assert [e["seq"] for e in batch] == [0, 1, 2, 3, 4] and all(e["src"] == "events" for e in batch)
        assert [e["seq"] for e in op.ws.events()] == [1, 3]   # the operator: their seat's events only
        await hub.dispatch({"type": "screen_pop", "call_id": "c9", "seat": "1001"}, "live")
        await asyncio.sleep(0.1)
        lone = json.loads(sup.ws.frames[-1][1])
        assert isinstance(lone, dict) and lone["call_id"] == "c9" and lone["src"] == "live"
        assert json.loads(op.ws.frames[-1][1])["call_id"] == "c9"
        assert metrics.get("hotline_ws_messages_total").value(result="delivered") == 6 + 3
        assert metrics.get("hotline_ws_delivery_seconds").count() == 6 + 3   # observed per event
    finally:
        await stop(hub, flusher)


async def test_under_load_a_page_gets_about_one_frame_per_flush_interval_in_order():
    flush = 0.03
    hub, _metrics, flusher = await hub_with(LiveSettings(flush_s=flush))
    pages = [Client(SUP, Page()) for _ in range(3)]        # type: ignore[arg-type]
    for p in pages:
        hub.join(p)
    try:
        start = time.monotonic()
        for i in range(120):                                 # ~ 500 events/s for a quarter second
            await hub.dispatch({"type": "load", "seq": i}, "live")
            await asyncio.sleep(0.002)
        elapsed = time.monotonic() - start
        await asyncio.sleep(0.1)
        for p in pages:
            assert [e["seq"] for e in p.ws.events()] == list(range(120))
            times = [t for t, _ in p.ws.frames]
            assert len(times) <= (times[-1] - times[0]) / (flush * 0.9) + 2, (len(times), elapsed)
            assert len(times) < 120 / 3                      # far fewer frames than events
            assert len(times) >= 3                          # paced, not held back to the end
            assert times[0] - start < flush / 2              # the first event of a quiet spell: at once
            gaps = sorted(b - a for a, b in zip(times, times[1:]))
            assert gaps[len(gaps) // 2] >= flush * 0.8       # then about one frame per flush_s
    finally:
        await stop(hub, flusher)


async def test_a_stuck_page_loses_its_oldest_messages_and_is_dropped_alone():
    hub, metrics, flusher = await hub_with(LiveSettings(queue_size=4, send_timeout_s=0.6, flush_s=0.01))
    stuck, ok = Client(SUP, Stuck()), Client(SUP, Page())  # type: ignore[arg-type]
    writer = hub.join(stuck)
    hub.join(ok)
    try:
        await hub.dispatch({"type": "load", "seq": 0}, "live")
        await asyncio.sleep(0.05)                           # the stuck page's writer takes #0 and hangs
        assert stuck.sending_since is not None
        for i in range(1, 20):                              # slower than the flush: the good page keeps up
            await hub.dispatch({"type": "load", "seq": i}, "live")
            await asyncio.sleep(0.015)
        assert writer.done() is False                       # not yet send_timeout_s
        assert [seq for _r, text in stuck.pending for seq in [json.loads(text)["seq"]]] == [16, 17, 18, 19]
        assert stuck.discarded == 15
        assert metrics.get("hotline_ws_messages_total").value(result="discarded") == 15
        await asyncio.wait([writer], timeout=2.0)
        assert writer.cancelled()                           # dropped for taking nothing for send_timeout_s
        assert metrics.get("hotline_ws_clients_dropped_total").value() == 1
        assert [e["seq"] for e in ok.ws.events()] == list(range(20))   # the other page lost nothing
        assert not ok.writer.done()
    finally:
        await stop(hub, flusher)
