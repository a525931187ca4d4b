"""The callback state machine (agents/callbacks.py) on fakes: placing the call,
and how AMI events on its channel settle the attempt."""
from __future__ import annotations

from dataclasses import replace

import pytest

from agents.callbacks import Callbacks
from agents.dialpolicy import Refusal, Verdict
from agents.errors import AgentsError
from agents.model import Assignment, CallPhase, CallStatus
from ivr.call_record import Ignore
from pbx.ami import AMIEvent
from pbx.events import parse_event
from tests.unit.fake_calls import MemoryCalls


class FakeRouter:
    def __init__(self, status: CallStatus | None) -> None:
        self.status = status
        self.log: list[tuple[str, str]] = []
        self.retry_left = True

    async def call(self, call_id: str) -> CallStatus | None:
        return self.status if self.status and self.status.call_id == call_id else None

    async def callback_failed(self, call_id: str) -> bool:
        self.log.append(("callback_failed", call_id))
        return self.retry_left

    async def requeue_front(self, call_id: str) -> int:
        self.log.append(("requeue_front", call_id))
        return 1

    async def ended(self, call_id: str) -> None:
        self.log.append(("ended", call_id))

    async def answered(self, call_id: str, seat_id: str | None = None) -> None:
        self.log.append(("answered", f"{call_id}@{seat_id}"))

    async def answered_if_ringing(self, call_id: str, seat_id: str | None = None) -> bool:
        st = await self.call(call_id)
        if st is None or st.phase != CallPhase.RINGING:
            return False
        await self.answered(call_id, seat_id)
        self.status = replace(st, phase=CallPhase.ON_CALL)
        return True


class FakeOutbound:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.asked: list[tuple[str, str, str]] = []

    async def approve(self, raw: str, purpose: str, *, ref: str = "") -> Verdict:
        self.asked.append((raw, purpose, ref))
        if self.ok:
            return Verdict(raw, number="07318888999", kind="landline")
        return Verdict(raw, refusal=next(iter(Refusal)))


class FakeAMI:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.originated: list[dict] = []

    async def originate(self, channel: str, **kw) -> None:
        if self.fail:
            raise ConnectionError("AMI down")
        self.originated.append({"channel": channel, **kw})


def FakeCalls() -> MemoryCalls:          # noqa: N802 - the call record of a call waiting for its callback
    return MemoryCalls({"c1": {"call_id": "c1", "status": "callback"}})


CB = CallStatus("c1", "general", CallPhase.RINGING, 1.0, callback=True, seat_id="1002",
                caller="13800001111", callback_number="07318888999")


def make(tmp_path, status=CB, ok=True, fail=False):
    router, calls = FakeRouter(status), FakeCalls()
    cb = Callbacks(router, FakeOutbound(ok), FakeAMI(fail), calls, recordings_dir=tmp_path, ring_timeout_s=15,
                   demo_seats=frozenset({"1001"}), clock=lambda: 99.0)
    return cb, router, calls


def ev(name: str, **headers: str):
    """The typed event for these headers, as AMIClient.subscribe hands it over."""
    e = parse_event(AMIEvent(name, headers))
    assert e is not None and isinstance(e, Callbacks.EVENTS), name
    return e


async def placed(cb: Callbacks) -> str:
    await cb.originate(Assignment("c1", "1002", "general", 1.0, callback=True))
    return next(iter(cb.placed))


async def test_originate_rings_the_seat_with_the_approved_number(tmp_path):
    cb, router, _ = make(tmp_path)
    chan = await placed(cb)
    (o,) = cb.ami.originated
    assert o["channel"] == "PJSIP/1002" and o["channel_id"] == chan and chan.startswith("cb-c1-")
    assert o["timeout_ms"] == 15000 and o["caller_id"] == '"Callback" <07318888999>'
    assert o["variables"]["CB_NUM"] == "07318888999" and o["variables"]["CB_CALL_ID"] == "c1"
    assert o["variables"]["CB_REC"] == str(tmp_path / "calls" / "c1")
    assert cb.outbound.asked == [("07318888999", "callback", "c1")]
    assert router.log == []


async def test_a_refused_number_is_never_dialled(tmp_path):
    cb, router, _ = make(tmp_path, ok=False)
    await cb.originate(Assignment("c1", "1002", "general", 1.0, callback=True))
    assert cb.ami.originated == [] and cb.placed == {}
    assert router.log == [("callback_failed", "c1")]


async def test_an_originate_that_fails_is_forgotten_and_raised(tmp_path):
    cb, _, _ = make(tmp_path, fail=True)
    with pytest.raises(ConnectionError):
        await cb.originate(Assignment("c1", "1002", "general", 1.0, callback=True))
    assert cb.placed == {}


async def test_seat_did_not_answer_puts_the_call_back_in_front(tmp_path):
    cb, router, _ = make(tmp_path)
    chan = await placed(cb)
    await cb.on_event(ev("OriginateResponse", Uniqueid=chan, Response="Failure"))
    assert router.log == [("requeue_front", "c1")] and cb.placed == {}


async def test_answered_and_talked_ends_the_call_and_records_it(tmp_path):
    cb, router, calls = make(tmp_path, status=replace(CB, phase=CallPhase.ON_CALL))
    chan = await placed(cb)
    await cb.on_event(ev("DialEnd", Uniqueid=chan, DialStatus="ANSWER"))
    await cb.on_event(ev("Hangup", Uniqueid=chan))
    assert router.log == [("ended", "c1")]
    assert calls.updates == [("c1", {"status": "callback_connected", "seat": "1002", "callback_at": 99.0})]
    await cb.handle(ev("Hangup", Uniqueid=chan))         # settled once: a later event does nothing
    assert len(router.log) == 1


async def test_citizen_not_reached_retries_or_lands_on_the_missed_list(tmp_path):
    cb, router, calls = make(tmp_path, status=replace(CB, phase=CallPhase.ON_CALL))
    chan = await placed(cb)
    await cb.on_event(ev("UserEvent", UserEvent="HotlineCallbackResult", Uniqueid=chan, Status="NOANSWER"))
    assert router.log == [("callback_failed", "c1")] and calls.updates == []
    router.retry_left = False
    chan = await placed(cb)
    await cb.on_event(ev("Hangup", Uniqueid=chan))
    assert calls.updates == [("c1", {"status": "missed"})]


async def test_events_of_other_channels_are_not_ours(tmp_path):
    cb, router, _ = make(tmp_path)
    await placed(cb)
    assert cb.on_event(ev("Hangup", Uniqueid="someone-else")) is None
    assert router.log == []


async def test_hotline_answered_marks_a_ringing_call_answered(tmp_path):
    cb, router, _ = make(tmp_path, status=replace(CB, callback=False))
    await cb.on_event(ev("UserEvent", UserEvent="HotlineAnswered", CallId="c1", Seat="1002"))
    await cb.on_event(ev("UserEvent", UserEvent="HotlineAnswered", CallId="nobody", Seat="1002"))
    assert router.log == [("answered", "c1@1002")]


async def test_the_seats_answer_is_recorded_once_whoever_reports_it_first(tmp_path):
    """The AMI event from the seat's channel (ON_ANSWER) marks the call record answered at its time;
    the caller's session, when its Dial returns, reports the same answer again: kept as first written.
    And the other way round: the session first, the late AMI event then changes nothing."""
    answer = ev("UserEvent", UserEvent="HotlineAnswered", CallId="c1", Seat="1002", Context="hotline-on-answer",
                Rec="/rec/calls/c1")
    cb, router, calls = make(tmp_path, status=replace(CB, callback=False))
    calls.data["c1"]["status"] = "ringing"
    await cb.on_event(answer)
    await calls.answered("c1", "1002", recording="/rec/calls/c1.wav", at=120.0)    # the session, later
    assert router.log == [("answered", "c1@1002")]
    assert calls.updates == [("c1", {"status": "answered", "seat": "1002", "answered": 99.0,
                                     "recording": "/rec/calls/c1.wav"})]
    assert isinstance(calls.decisions[-1][1], Ignore)

    cb, router, calls = make(tmp_path, status=replace(CB, callback=False, phase=CallPhase.ON_CALL))
    calls.data["c1"]["status"] = "answered"
    await cb.on_event(answer)
    assert router.log == [] and calls.updates == []


async def test_the_callbacks_citizen_leg_answering_is_not_the_calls_answer(tmp_path):
    """A callback's HotlineAnswered on the citizen's leg (ON_ANSWER, the call on call): no second answer,
    and the call record stays the callback's (callback_connected comes when the attempt is over)."""
    cb, router, calls = make(tmp_path, status=replace(CB, phase=CallPhase.ON_CALL))
    await cb.on_event(ev("UserEvent", UserEvent="HotlineAnswered", CallId="c1", Seat="1002",
                         Context="hotline-on-answer", Rec="/rec/calls/c1"))
    assert router.log == [] and calls.updates == []


async def test_a_routing_error_is_logged_not_raised(tmp_path, caplog):
    cb, router, _ = make(tmp_path)

    async def broken(call_id):
        raise AgentsError("redis said no")
    router.call = broken
    await cb.handle(ev("UserEvent", UserEvent="HotlineAnswered", CallId="c1"))
    assert "redis said no" in caplog.text
