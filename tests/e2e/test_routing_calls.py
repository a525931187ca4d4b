"""Routing on live calls through the real Asterisk and Redis: lane priority,
skills and overflow, fairness, ring-no-answer, callback, abandonment, a real
SIP softphone as a seat, and the controller killed with callers waiting.

The session stack (tests/e2e/conftest.py) has demo seats 1001-1004 logged in
with operators 8001-8004. Each test arranges the seats it needs (the others
paused 小休) and puts all four back to ready at the end. Demo seats answer,
say a short reply, talk a few seconds and hang up; nobody ends their wrap-up
(15 s in config/seats.yaml) unless a test plays the operator (`end_wrap_up`).
"""
from __future__ import annotations

import array
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.errors import AgentsError
from agents.events import events_key, stats_today
from agents.model import NO_ANSWER, SeatState, SeatStatus
from devstack.simcall import CallResult, place_call
from devstack.sipp import baresip_config, free_udp_tcp_port
from pbx.ami import AMIEvent
from tests.e2e.helpers import alive, publish

pytestmark = pytest.mark.asterisk

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DEMO = {"1001": "8001", "1002": "8002", "1003": "8003", "1004": "8004"}   # seat -> operator at start
DEPUTY = "13800001001"                     # in config/lists/deputies.csv
DID_ENTERPRISE, DID_CALLBACK = "12345002", "12345003"

# No prompts before the queue: a call is waiting within about a second. The overflow
# and callback-offer times are the smallest the tree schema accepts (5 s and 10 s).
TREE: dict[str, Any] = {
    "version": 1,
    "name": "e2e-routing",
    "entry": "start",
    "lanes": {                             # the lanes config/seats.yaml knows
        "deputy": {"label": "人大代表通道", "priority": 9},
        "enterprise": {"label": "政企通专席", "priority": 5, "overflow": {"after_s": 5, "to": "general"}},
        "general": {"label": "综合受理", "priority": 1},
    },
    "lists": {"deputies": "lists/deputies.csv"},
    "nodes": {
        "start": {"type": "caller_check",
                  "checks": [{"in_list": "deputies", "goto": "deputy_q"},
                             {"did": DID_ENTERPRISE, "goto": "enterprise_q"},
                             {"did": DID_CALLBACK, "goto": "callback_q"}],
                  "default": "general_q"},
        "deputy_q": {"type": "queue", "lane": "deputy", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
        "enterprise_q": {"type": "queue", "lane": "enterprise", "announce_every_s": 0, "after": "bye",
                         "on_fail": "bye"},
        "general_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
        "callback_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "callback_after_s": 10,
                       "after": "bye", "on_fail": "bye"},
        "bye": {"type": "hangup", "prompt": {"text": "再见。"}},
    },
}


# ---------------------------------------------------------------- helpers


def new_number() -> str:
    """A caller number nobody used before (no repeat-caller boost, not on the deputies' list)."""
    return "137" + "".join(random.choice("0123456789") for _ in range(8))


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


class Events:
    """The routing events stream from a mark on; calls told apart by their caller numbers."""

    def __init__(self, stack) -> None:
        self.r = stack.redis
        self.router = stack.hotline.routing.router
        self.since = "0-0"
        self._callers: dict[str, str | None] = {}

    async def mark(self) -> None:
        rows = await self.r.xrevrange(events_key(), count=1)
        self.since = rows[0][0] if rows else "0-0"

    async def read(self) -> list[dict[str, Any]]:
        rows = await self.r.xrange(events_key(), min=f"({self.since}", max="+")
        return [json.loads(f["json"]) for _, f in rows]

    async def caller(self, call_id: str) -> str | None:
        if call_id not in self._callers:
            st = await self.router.call(call_id)
            self._callers[call_id] = st.caller if st else None
        return self._callers[call_id]

    async def call_id(self, caller: str, timeout: float = 15.0) -> str:
        """The id of the call from `caller` once it is queued."""
        async def find():
            for e in await self.read():
                if e["type"] == "call_queued" and await self.caller(e["call_id"]) == caller:
                    return e["call_id"]
            return None
        return await until(find, timeout, f"the call from {caller} to be queued")

    async def wait(self, pred: Callable[[dict], bool], timeout: float, what: str) -> dict[str, Any]:
        async def find():
            return next((e for e in await self.read() if pred(e)), None)
        return await until(find, timeout, what)

    async def of(self, call_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in await self.read() if e.get("call_id") == call_id and kind in (None, e["type"])]


def _events_ami(stack):
    """The session to watch on: the stack's observer when the controller's own session filters."""
    return getattr(stack, "events_ami", None) or stack.ami


@contextlib.contextmanager
def ami_events(stack, pattern: str = "*"):
    """AMI events (all channels) while the block runs."""
    got: list[AMIEvent] = []
    unsubscribe = _events_ami(stack).on_event(pattern, got.append)
    try:
        yield got
    finally:
        unsubscribe()


async def call(stack, **kw) -> tuple[CallResult, dict | None]:
    kw.setdefault("answer_prompts", True)
    kw.setdefault("hold", 60)
    kw.setdefault("timeout", 90)
    kw.setdefault("caller", new_number())
    result = await place_call(_events_ami(stack), **kw)
    return result, await stack.hotline.ivr.calls.get(result.ivr_uniqueid)


def later(delay: float, coro: Awaitable) -> asyncio.Future:
    async def run():
        await asyncio.sleep(delay)
        return await coro
    return asyncio.ensure_future(run())


async def seat(stack, seat_id: str) -> SeatStatus:
    return await stack.hotline.routing.seats.status(seat_id)


async def not_busy(stack, seat_id: str, timeout: float = 30.0) -> SeatStatus:
    async def check():
        st = await seat(stack, seat_id)
        return st if st.state not in (SeatState.RINGING, SeatState.ON_CALL) else None
    return await until(check, timeout, f"seat {seat_id} to be off the phone")


async def arrange(stack, ready: Sequence[str] = (), operators: Mapping[str, str] | None = None) -> None:
    """Demo seats: those in `ready` ready in that order (the first idle longest), the others
    paused 小休; `operators` logs another operator in to a seat."""
    seats = stack.hotline.routing.seats
    for sid, default_op in DEMO.items():
        op = (operators or {}).get(sid, default_op)
        st = await not_busy(stack, sid)
        if st.operator_id != op:
            if st.state != SeatState.LOGGED_OUT:
                await seats.logout(sid)
            await seats.login(sid, op, pause_reason="小休")
        elif st.state != SeatState.PAUSED:
            await seats.pause(sid, "小休")
    for sid in ready:
        await asyncio.sleep(0.01)                 # distinct ready times
        await seats.ready(sid)


async def restore_seats(stack) -> None:
    """Demo seats 1001-1004 ready with operators 8001-8004; any other seat logged out."""
    seats = stack.hotline.routing.seats
    for st in await seats.seats():
        if st.seat_id not in DEMO and st.state != SeatState.LOGGED_OUT:
            await not_busy(stack, st.seat_id)
            await seats.logout(st.seat_id)
    for sid, op in DEMO.items():
        st = await not_busy(stack, sid)
        if st.operator_id != op:
            if st.state != SeatState.LOGGED_OUT:
                await seats.logout(sid)
            await seats.login(sid, op)
        elif st.state != SeatState.READY:
            await seats.ready(sid)
    states = {s.seat_id: (s.state, s.operator_id) for s in await seats.seats() if s.seat_id in DEMO}
    assert states == {sid: (SeatState.READY, op) for sid, op in DEMO.items()}


@contextlib.asynccontextmanager
async def end_wrap_up(stack, seat_ids: Iterable[str]):
    """The operators at these seats end their wrap-up at once (a demo seat has nobody to do it)."""
    seats = stack.hotline.routing.seats
    ids = set(seat_ids)

    async def operator() -> None:
        while True:
            for st in await seats.seats():
                if st.seat_id in ids and st.state == SeatState.WRAP_UP:
                    with contextlib.suppress(AgentsError):
                        await seats.ready(st.seat_id)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(operator())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def routing(fresh):
    """The routing tree published and the product's IVR answering; the demo seats ready again after."""
    version = await publish(fresh, TREE, "e2e routing")
    handler = fresh.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    fresh.use(handler)

    async def rules_follow():              # agents.lanes.LaneFollower
        return fresh.hotline.routing.lanes.version == version
    await until(rules_follow, 5, "the router to take the lanes of the published tree")
    try:
        yield fresh
    finally:
        await restore_seats(fresh)


# ---------------------------------------------------------------- 1. priority


async def test_deputy_gets_the_next_free_seat(routing):
    stack = routing
    await arrange(stack, ready=["1002"])      # 1001 is reserved for deputies: 1002 is the one ready seat
    ev = Events(stack)
    await ev.mark()
    first_no, general_no = new_number(), new_number()
    first = asyncio.ensure_future(call(stack, caller=first_no))
    first_id = await ev.call_id(first_no)
    await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == first_id, 15, "the first call answered")
    general = asyncio.ensure_future(call(stack, caller=general_no))
    general_id = await ev.call_id(general_no)
    await asyncio.sleep(0.5)
    deputy = asyncio.ensure_future(call(stack, caller=DEPUTY))
    deputy_id = await ev.call_id(DEPUTY)
    # The first call ends: 1002 wraps up; its operator ends the wrap-up with both callers waiting.
    await ev.wait(lambda e: e["type"] == "seat_state" and e["seat_id"] == "1002" and e["to"] == "wrap_up",
                  20, "seat 1002 to wrap up")
    assert [(await stack.hotline.routing.router.call(c)).phase.value for c in (general_id, deputy_id)] \
        == ["waiting", "waiting"]
    async with end_wrap_up(stack, ["1002"]):
        (r1, rec1), (rg, recg), (rd, recd) = await asyncio.gather(first, general, deputy)

    events = await ev.read()
    queued = [e["call_id"] for e in events if e["type"] == "call_queued"]
    answered = [e["call_id"] for e in events if e["type"] == "call_answered"]
    assert queued == [first_id, general_id, deputy_id]
    assert answered == [first_id, deputy_id, general_id]          # the deputy went first
    lanes = {e["call_id"]: e["lane"] for e in events if e["type"] == "call_queued"}
    assert lanes == {first_id: "general", general_id: "general", deputy_id: "deputy"}
    for r, rec in ((r1, rec1), (rg, recg), (rd, recd)):
        assert r.completed and not r.fallback
        assert rec["seat"] == "1002" and rec.get("answered"), rec
        assert rec["path"][-1] == "bye"


# ---------------------------------------------------------------- 2. skills and overflow


async def test_enterprise_caller_gets_a_skilled_seat_and_overflows_when_none_is_free(routing):
    stack = routing
    lane = stack.hotline.routing.router.rules.lanes["enterprise"]
    assert (lane.overflow.after_s, lane.overflow.to) == (5, "general")   # from the tree published in the test
    # 1004 with operator 8006 (general only) idle longest; 1003 with 8003 (enterprise 9).
    await arrange(stack, ready=["1004", "1003"], operators={"1004": "8006"})
    ev = Events(stack)
    await ev.mark()
    skilled_no, overflow_no = new_number(), new_number()
    skilled = asyncio.ensure_future(call(stack, did=DID_ENTERPRISE, caller=skilled_no))
    skilled_id = await ev.call_id(skilled_no)
    a1 = await ev.wait(lambda e: e["type"] == "call_assigned" and e["call_id"] == skilled_id, 10,
                       "the first enterprise call assigned")
    assert (a1["seat_id"], a1["overflowed"], a1["lane"]) == ("1003", False, "enterprise")
    # 1003 is now busy (then wrapping up for 15 s): no enterprise seat is ready.
    overflow = asyncio.ensure_future(call(stack, did=DID_ENTERPRISE, caller=overflow_no))
    overflow_id = await ev.call_id(overflow_no)
    a2 = await ev.wait(lambda e: e["type"] == "call_assigned" and e["call_id"] == overflow_id, 15,
                       "the second enterprise call to overflow")
    (r1, rec1), (r2, rec2) = await asyncio.gather(skilled, overflow)

    assert (a2["seat_id"], a2["overflowed"], a2["lane"]) == ("1004", True, "enterprise")
    answered = {e["call_id"]: e for e in await ev.read() if e["type"] == "call_answered"}
    assert 5.0 <= answered[overflow_id]["waited_s"] < 9.0, answered[overflow_id]
    assert answered[skilled_id]["waited_s"] < 2.0
    assert rec1["seat"] == "1003" and rec1.get("answered") and rec1["outcome"]["lane"] == "enterprise"
    assert rec2["seat"] == "1004" and rec2.get("answered") and rec2["outcome"]["lane"] == "enterprise"
    assert r1.completed and r2.completed


# ---------------------------------------------------------------- 3. fairness


async def test_calls_answered_in_arrival_order_and_spread_by_idle_time(routing):
    stack = routing
    order = ["1004", "1002", "1003"]          # ready in this order; 1001 is reserved for deputies (paused)
    ev = Events(stack)
    await ev.mark()
    await arrange(stack, ready=order)
    numbers = [new_number() for _ in range(12)]
    async with end_wrap_up(stack, order):
        results = await asyncio.gather(*(later(0.25 * i, call(stack, caller=n)) for i, n in enumerate(numbers)))

    events = await ev.read()
    ids = {r.ivr_uniqueid for r, _ in results}
    queued = [e for e in events if e["type"] == "call_queued" and e["call_id"] in ids]
    assigned = [e for e in events if e["type"] == "call_assigned" and e["call_id"] in ids]
    answered = [e["call_id"] for e in events if e["type"] == "call_answered" and e["call_id"] in ids]
    assert len(queued) == len(assigned) == len(answered) == 12
    assert {q["priority"] + q["boost"] for q in queued} == {0}
    arrival = [q["call_id"] for q in queued]
    assert [await ev.caller(c) for c in arrival] == numbers                  # they queued as placed
    assert [a["call_id"] for a in assigned] == arrival                       # served first come, first served
    # Three seats ring at once, so answers may swap only among calls rung together.
    for rank, cid in enumerate(answered):
        assert abs(arrival.index(cid) - rank) < len(order), (rank, cid)
    assert [a["seat_id"] for a in assigned[:3]] == order                     # longest idle first
    # Replaying the stream: each call went to the seat ready the longest at that moment.
    ready_since: dict[str, float] = {}
    checked = 0
    for e in events:
        if e["type"] != "seat_state":
            continue
        sid = e["seat_id"]
        if e["from"] == "ready" and e["to"] == "ringing" and e["call_id"] in ids:
            others = [t for s, t in ready_since.items() if s != sid and s in order]
            assert all(ready_since[sid] <= t for t in others), (e, ready_since)
            checked += 1
        if e["to"] == "ready":
            ready_since[sid] = e["at"]
        else:
            ready_since.pop(sid, None)
    assert checked == 12
    per_seat = {s: sum(1 for a in assigned if a["seat_id"] == s) for s in order}
    assert all(3 <= n <= 5 for n in per_seat.values()), per_seat
    for (r, rec) in results:
        assert r.completed and rec.get("answered") and rec["seat"] in order, rec


# ---------------------------------------------------------------- 4. ring, no answer


def dials(result: CallResult) -> list[str]:
    """The seats the call's AGI session dialled, in order (from AMI AGIExecStart events)."""
    out = []
    for e in result.named("AGIExecStart"):
        words = e.get("Command", "").split(" ", 2)
        if e.get("Uniqueid") == result.ivr_uniqueid and words[:2] == ["EXEC", "Dial"]:
            out.append(words[2].strip('"').split(",")[0])
    return out


async def test_unanswered_seat_is_paused_and_the_call_goes_to_the_next(routing):
    stack = routing
    seats = stack.hotline.routing.seats
    await arrange(stack, ready=[])
    ev = Events(stack)
    await ev.mark()
    # 1005 is a softphone seat with no phone registered: it is idle longest, so it rings first.
    await seats.login("1005", "8005")
    await asyncio.sleep(0.01)
    await seats.ready("1002")
    result, rec = await call(stack)

    cid = result.ivr_uniqueid
    kinds = [(e["type"], e.get("seat_id"), e.get("reason")) for e in await ev.of(cid)
             if e["type"] in ("call_assigned", "call_requeued", "call_answered")]
    assert kinds == [("call_assigned", "1005", None), ("call_requeued", "1005", "no_answer"),
                     ("call_assigned", "1002", None), ("call_answered", "1002", None)]
    assert dials(result) == ["PJSIP/1005", "Local/1002@hotline-demo-seat/n"]
    st = await seat(stack, "1005")
    assert (st.state, st.reason, st.operator_id) == (SeatState.PAUSED, NO_ANSWER, "8005")
    assert result.completed and rec["seat"] == "1002" and rec.get("answered")
    stats = await stats_today(stack.redis, seat="1005")
    assert stats["no_answer"] >= 1


# ---------------------------------------------------------------- 5. callback


async def test_callback_calls_the_seat_then_the_citizen(routing):
    stack = routing
    await arrange(stack, ready=[])            # nobody ready: the caller waits and is offered a callback
    ev = Events(stack)
    await ev.mark()
    before = await stats_today(stack.redis)
    number = new_number()
    with ami_events(stack) as seen:
        # The confirmation prompt (GET DATA) is answered with 1 by the caller's prompt answerer.
        placed = asyncio.ensure_future(call(stack, did=DID_CALLBACK, caller=number, keys="1"))
        cid = await ev.call_id(number)

        async def offer_heard():            # the offer prompt played, then the wait goes on
            cmds = [" ".join(e.get("Command", "").split(" ")[:2])
                    for e in seen if e.name == "AGIExecStart" and e.get("Uniqueid") == cid]
            if "STREAM FILE" in cmds and cmds[cmds.index("STREAM FILE") + 1:].count("WAIT FOR") >= 1:
                return next(e.get("Channel") for e in seen if e.get("Uniqueid") == cid and e.get("Channel"))
            return None
        channel = await until(offer_heard, 25, "the callback offer")
        assert (await stack.hotline.routing.router.call(cid)).phase.value == "waiting"
        await stack.ami.action("PlayDTMF", Channel=channel.replace(";2", ";1"), Digit="1", Duration=120)
        result, rec = await placed
        assert rec["end_reason"] == "callback_requested", rec
        assert rec["callback_number"] == number
        st = await stack.hotline.routing.router.call(cid)
        assert (st.phase.value, st.callback) == ("waiting", True)   # kept its place

        await stack.hotline.routing.seats.ready("1002")
        await ev.wait(lambda e: e["type"] == "call_ended" and e["call_id"] == cid, 30, "the callback to end")
        settled = list(seen)

    mine = [e for e in settled if e.name == "UserEvent" and (e.get("CallId") == cid or e.get("Number") == number)]
    kinds = [e.get("UserEvent") for e in mine]
    # the seat answers (hotline-callback), the citizen is dialled and answers (on-answer gosub)
    assert kinds[:3] == ["HotlineAnswered", "HotlineExternal", "HotlineAnswered"], kinds
    assert mine[0].get("Seat") == "1002" and mine[0].get("Context") == "hotline-callback"
    assert mine[1].get("Number") == number
    # The callback context's Dial returns to it (`g`) when the citizen hangs up and reports the result;
    # the controller also settles an attempt on the channel's DialEnd and Hangup, whichever comes first.
    results = [e.get("Status") for e in mine if e.get("UserEvent") == "HotlineCallbackResult"]
    assert results == ["ANSWER"], kinds
    cb_dials = [e for e in settled if e.name == "DialEnd" and e.get("Uniqueid", "").startswith(f"cb-{cid}-")]
    assert [e.get("DialStatus") for e in cb_dials] == ["ANSWER"]
    assert cb_dials[0].get("DestChannel", "").startswith(f"Local/{number}@hotline-out")
    kinds = [(e["type"], e.get("seat_id"), e.get("callback")) for e in await ev.of(cid)
             if e["type"] in ("call_callback_requested", "call_assigned", "call_answered", "call_ended")]
    assert kinds == [("call_callback_requested", None, None), ("call_assigned", "1002", True),
                     ("call_answered", "1002", True), ("call_ended", "1002", None)]
    after = await stats_today(stack.redis)
    assert after["callback_requested"] == before["callback_requested"] + 1
    assert after["callback_connected"] == before["callback_connected"] + 1
    assert after["abandoned"] == before["abandoned"]
    assert result.completed
    # the call record says what became of the call: called back and connected, at that seat
    # (the caller's walk ending with the callback request did not overwrite it)
    rec = await stack.hotline.ivr.calls.get(cid)
    assert (rec["status"], rec["seat"], rec["callback_number"]) == ("callback_connected", "1002", number), rec
    assert rec["end_reason"] == "callback_requested" and float(rec["callback_at"]) > float(rec["ended"])


# ---------------------------------------------------------------- 6. abandonment


async def test_caller_hanging_up_while_waiting_is_counted_and_listed(routing):
    stack = routing
    await arrange(stack, ready=[])
    ev = Events(stack)
    await ev.mark()
    before, lane_before = await stats_today(stack.redis), await stats_today(stack.redis, "general")
    number = new_number()
    result, rec = await call(stack, caller=number, hold=4)        # hangs up after 4 s, still waiting

    cid = result.ivr_uniqueid
    assert result.completed
    kinds = [e["type"] for e in await ev.of(cid)]
    assert kinds == ["call_queued", "call_abandoned"]
    abandoned = (await ev.of(cid, "call_abandoned"))[0]
    assert 1.5 < abandoned["waited_s"] < 4.5
    after, lane_after = await stats_today(stack.redis), await stats_today(stack.redis, "general")
    assert after["abandoned"] == before["abandoned"] + 1
    assert lane_after["abandoned"] == lane_before["abandoned"] + 1
    assert after["abandon_rate"] is not None and after["abandon_rate"] > 0
    missed = {m["call_id"]: m for m in await stack.hotline.routing.router.missed_calls()}
    assert missed[cid]["reason"] == "abandoned" and missed[cid]["caller"] == number
    assert rec["end_reason"] == "caller_hangup" and not rec.get("answered")


# ---------------------------------------------------------------- 7. a real SIP softphone seat


def wav_rms(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        samples = array.array("h", w.readframes(w.getnframes()))
    return (sum(x * x for x in samples) / len(samples)) ** 0.5 if samples else 0.0


async def netstring(host: str, port: int, payload: dict) -> None:
    """One command to baresip's ctrl_tcp module (a netstring of JSON)."""
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps(payload).encode()
    writer.write(str(len(body)).encode() + b":" + body + b",")
    await writer.drain()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1000), 2)
    writer.close()


async def test_baresip_softphone_answers_as_a_seat(routing, tmp_path):
    from agents.secrets import seat_credentials
    from devstack.procs import free_port
    from hotline.app import data_dir

    stack = routing
    exe = shutil.which("baresip")
    if exe is None:
        pytest.skip("baresip is not installed (scripts/setup installs it)")
    username, secret = seat_credentials(stack.hotline.routing.config, data_dir(stack.settings))["1005"]
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth", "20", "sine", "440",
                    "vol", "0.5"], check=True)
    folder = tmp_path / "baresip"
    folder.mkdir()
    sip_port = free_udp_tcp_port()                  # baresip binds UDP and TCP on it
    ctrl_port = free_port()
    (folder / "config").write_text(baresip_config("127.0.0.1", sip_port, ctrl_port, tone))
    (folder / "accounts").write_text(
        f"<sip:{username}@127.0.0.1:{stack.asterisk.ports.sip}>;auth_pass={secret};answermode=auto;regint=60\n")
    log = open(tmp_path / "baresip.log", "wb")
    phone = subprocess.Popen([exe, "-f", str(folder)], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        async def registered():
            out = await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or ""
            return f"{username}/sip:" in out or "1005/sip:" in out
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        await arrange(stack, ready=[])
        await stack.hotline.routing.seats.login("1005", "8005")
        ev = Events(stack)
        await ev.mark()
        number = new_number()
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await ev.call_id(number)
        await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid, 15, "baresip to answer")
        await asyncio.sleep(3)                      # a short conversation, then the operator hangs up
        await netstring("127.0.0.1", ctrl_port, {"command": "hangup", "token": "e2e"})
        result, rec = await placed
    finally:
        stop_phone(phone, log)

    assert result.completed
    assert rec["seat"] == "1005" and rec.get("answered"), rec
    assert rec["path"][-1] == "bye"                  # the caller went on after the seat hung up
    assert dials(result) == ["PJSIP/1005"]
    kinds = [(e["type"], e.get("seat_id")) for e in await ev.of(cid)
             if e["type"] in ("call_assigned", "call_answered", "call_ended")]
    assert kinds == [("call_assigned", "1005"), ("call_answered", "1005"), ("call_ended", "1005")]
    # One recording is kept: both directions mixed, compressed (recordings.compress); the per-direction
    # files are gone once the call is over and speech-to-text is done with it.
    base = Path(rec["recording"][:-4])

    async def kept():
        r = await stack.hotline.ivr.calls.get(cid)
        return r["recording"] if r["recording"].endswith(".ogg") and Path(r["recording"]).exists() else None
    ogg = Path(await until(kept, 30, "the call's recording to be compressed"))
    assert not Path(f"{base}-seat.wav").exists() and not Path(f"{base}-caller.wav").exists()
    assert not Path(f"{base}.wav").exists() and (ogg.stat().st_mode & 0o777) == 0o640
    decoded = tmp_path / "kept.wav"
    subprocess.run(["sox", str(ogg), "-b", "16", str(decoded)], check=True)
    assert wav_rms(decoded) > 500, "no audio from the softphone in the call's recording"


# ---------------------------------------------------------------- 8. the controller killed with calls waiting


def stop_phone(phone: subprocess.Popen, log) -> None:
    """A softphone started by a test (baresip) stopped, and its log closed."""
    phone.terminate()
    try:
        phone.wait(5)
    except subprocess.TimeoutExpired:
        phone.kill()
        phone.wait(5)
    log.close()


def _stop_group(pid: int | None) -> None:
    """Stop a service the killed controller left behind (its own process group), by pid."""
    if not pid:
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if not alive(pid):
            return


def _start_up(tmp: Path, demo_seats: int) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(tmp / "run"), HOTLINE__STORAGE__DATA_DIR=str(tmp / "data"),
               HOTLINE__FALLBACK__QUEUE_TIMEOUT_S="150")
    err = open(tmp / "controller.log", "wb")
    proc = subprocess.Popen([str(VENV_BIN / "hotline"), "up", "--demo-seats", str(demo_seats)],
                            stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    err.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            info = json.loads(line[len("READY "):])
            info.update(json.loads((Path(info["run"]) / "ready.json").read_text()))
            return proc, info
        if not line and proc.poll() is not None:
            break
    proc.send_signal(signal.SIGINT)                 # a clean stop takes Asterisk and Redis down too
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
    raise AssertionError(f"no READY line: {(tmp / 'controller.log').read_text()[-3000:]}")


async def test_controller_killed_with_callers_waiting_all_reach_a_seat(tmp_path):
    import redis.asyncio as aioredis

    from agents.config import load_seats
    from agents.events import all_events
    from agents.service import SeatService
    from agents.store import RoutingStore
    from pbx.ami import AMIClient

    """A separate `hotline up` (Redis and Asterisk in their own process groups); 12 callers wait in
    Redis with every seat paused; SIGKILL of the controller alone sends each call's dialplan to
    the fallback queue, whose members (the demo seats) app_queue rings whatever Redis says.
    Four demo seats rather than two keep the test under a minute (talk + the queue's wrap-up)."""
    demo, n_calls = 4, 12
    proc, info = await asyncio.to_thread(_start_up, tmp_path, demo)
    pids = info["pids"]
    ami = redis = None
    calls: list[asyncio.Future] = []
    try:
        redis = aioredis.from_url(info["redis"], decode_responses=True)
        lanes = ("deputy", "enterprise", "general")
        store = RoutingStore(redis, load_seats(REPO / "config" / "seats.yaml", lanes=lanes))
        await store.load_scripts()
        seats = SeatService(store)
        demo_ids = [f"{1001 + i}" for i in range(demo)]
        for sid in demo_ids:                       # nobody answers: the callers wait in the deputies' lane
            await seats.pause(sid, "小休")
        ami = AMIClient("127.0.0.1", info["ports"]["ami"], info["ami_user"], info["ami_secret"])
        await ami.connect()
        # DID 12345001 goes straight to the deputies' lane in the default tree (no menu).
        calls = [later(0.2 * i, place_call(ami, did="12345001", caller=new_number(), hold=170, timeout=180))
                 for i in range(n_calls)]

        async def all_waiting():
            queued = {e["call_id"] for _, e in await all_events(redis) if e["type"] == "call_queued"}
            waiting = [await store.call(c) for c in queued]
            return len(queued) == n_calls and all(st.phase.value == "waiting" for st in waiting)
        await until(all_waiting, 30, f"{n_calls} callers waiting", every=0.3)
        await asyncio.sleep(1)
        os.kill(pids["controller"], signal.SIGKILL)            # the controller only: Asterisk and Redis stay
        await asyncio.to_thread(proc.wait, 10)
        results = await asyncio.gather(*calls)
    finally:
        for c in calls:
            c.cancel()
        if proc.poll() is None:                                # failed before the kill: a clean stop
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 40)
        if ami is not None:
            await ami.close()
        if redis is not None:
            await redis.aclose()
        for name in ("asterisk", "redis", "postgres"):
            await asyncio.to_thread(_stop_group, pids.get(name))
    assert not any(alive(p) for p in pids.values())

    members = {f"Local/{sid}@hotline-demo-seat/n" for sid in demo_ids}
    for r in results:
        assert r.completed, r.sim_id
        fallback = r.user_events("HotlineFallback")
        assert fallback, r.sim_id                                  # the dialplan took the call over...
        connects = r.named("AgentConnect")
        assert len(connects) == 1 and connects[0].get("Queue") == "hotline-fallback", r.sim_id
        assert connects[0].get("Interface") in members, connects[0].get("Interface")   # ...and a seat answered
        assert not r.user_events("HotlineMissed")
        assert r.events.index(fallback[0]) < r.events.index(connects[0])


# ---------------------------------------------------------------- 9. demo seats' wrap-up


async def test_demo_seat_wrap_up_is_configurable_and_ended_early_by_the_operator(routing):
    import dataclasses

    stack = routing
    queue = stack.hotline.ivr.handler.queue          # `hotline up --demo-wrap-up 2` sets this
    queue = getattr(queue, "inner", queue)           # (the leader feature wraps the routed queue runner)
    cfg = queue.cfg
    await arrange(stack, ready=["1002"])
    ev = Events(stack)
    await ev.mark()
    queue.cfg = dataclasses.replace(cfg, demo_wrap_up_s=2)
    try:
        r1, _ = await call(stack)
    finally:
        queue.cfg = cfg

    async def moves():
        return [(e["from"], e["to"], e["at"]) for e in await ev.read()
                if e["type"] == "seat_state" and e["seat_id"] == "1002"]

    async def ready_again():
        m = await moves()
        return m if m and m[-1][1] == "ready" and any(t == "wrap_up" for _, t, _ in m) else None
    m = await until(ready_again, 10, "1002 ready again by itself")
    start = next(at for f, t, at in m if t == "wrap_up")
    assert 1.5 <= m[-1][2] - start <= 3.5, m                  # 2 s, ended by the matcher's clock
    assert r1.completed

    # the configured wrap-up (config/seats.yaml, 15 s): the operator ends it early (console 示闲)
    await ev.mark()
    r2, _ = await call(stack)
    st = await seat(stack, "1002")
    assert st.state == SeatState.WRAP_UP and 14 <= st.wrap_until - st.since <= 16, st
    await asyncio.sleep(1)
    st = await stack.hotline.routing.seats.ready("1002")
    assert st.state == SeatState.READY
    m = await moves()
    start = next(at for f, t, at in m if t == "wrap_up")
    assert m[-1][:2] == ("wrap_up", "ready") and m[-1][2] - start < 5, m
    assert r2.completed
