"""Transfers from a seat on live calls through the real Asterisk and Redis:
blind to 12366 and three-way to 110 (the hotline-external Local stand-in),
checked from AMI events (the target's leg, ConfBridge membership) and the
call record."""
from __future__ import annotations

import asyncio

import pytest

from agents.model import SeatState
from tests.e2e.test_routing_calls import (  # noqa: F401  (routing: the fixture)
    Events,
    ami_events,
    arrange,
    call,
    new_number,
    routing,
    until,
)

pytestmark = pytest.mark.asterisk


async def answered_at_seat(stack, ev: Events, number: str, seat: str) -> str:
    cid = await ev.call_id(number)
    await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid and e.get("seat_id") == seat,
                  15, f"the call answered at {seat}")

    async def channel_known():                    # from the seat's HotlineAnswered (AMI)
        rec = await stack.hotline.ivr.calls.get(cid)
        return rec and rec.get("seat_channel")
    await until(channel_known, 5, "the seat's channel on the call record")
    return cid


async def test_blind_transfer_to_12366(routing):
    stack = routing
    transfers = stack.hotline.transfers.service
    await arrange(stack, ready=["1002"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    with ami_events(stack) as seen:
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await answered_at_seat(stack, ev, number, "1002")
        t = await transfers.request(cid, "1002", "8002", "tax", "blind")
        assert (t.mode.value, t.state.value, t.number) == ("blind", "dialing", "12366")
        result, rec = await placed
        settled = list(seen)

    assert result.completed
    # the seat's leg was hung up, the caller's own channel dialled the target, which answered
    ext = [e for e in settled if e.name == "UserEvent" and e.get("UserEvent") == "HotlineExternal"
           and e.get("Linkedid") == result.caller_uniqueid]
    assert [e.get("Number") for e in ext] == ["12366"]
    dial_ends = [(e.get("DestChannel", "").split("-")[0], e.get("DialStatus")) for e in settled
                 if e.name == "DialEnd" and e.get("Uniqueid") == cid]
    assert dial_ends == [("Local/1002@hotline", "ANSWER"), ("Local/12366@hotline", "ANSWER")], dial_ends
    (x,) = rec["transfers"]
    assert (x["target"], x["number"], x["mode"], x["by"], x["seat_id"]) == ("tax", "12366", "blind", "8002", "1002")
    assert (x["state"], x["result"]) == ("done", "connected") and x["answered_at"] >= x["at"]
    assert rec["path"][-1] == "bye"                                   # back to the tree after the target hung up
    kinds = [(e["type"], e.get("to")) for e in await ev.read()
             if e.get("seat_id") == "1002" and e["type"] in ("seat_state",)]
    assert ("seat_state", "wrap_up") in kinds                        # the operator was released at once
    live = [e for e in await ev.of(cid) if e["type"] == "call_ended"]
    assert len(live) == 1


async def test_three_way_with_110(routing):
    stack = routing
    transfers = stack.hotline.transfers.service
    await arrange(stack, ready=["1003"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    with ami_events(stack) as seen:
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await answered_at_seat(stack, ev, number, "1003")
        with pytest.raises(Exception) as refused:                     # 110 is three-way only
            await transfers.request(cid, "1003", "8003", "police", "blind")
        assert refused.value.error_id == "transfer_mode_not_allowed"
        t = await transfers.request(cid, "1003", "8003", "police", "three_way")
        result, rec = await placed
        await until(lambda: seat_not_on_call(stack, "1003"), 10, "seat 1003 to leave the call")
        settled = list(seen)

    assert result.completed
    conf = f"hl-{cid}"
    members: set[str] = set()
    most, joined = 0, []
    for e in settled:
        if e.get("Conference") != conf:
            continue
        if e.name == "ConfbridgeJoin":
            members.add(e.get("Channel"))
            joined.append(e.get("Channel"))
        elif e.name == "ConfbridgeLeave":
            members.discard(e.get("Channel"))
        most = max(most, len(members))
    caller_ch = rec["channel"]
    assert caller_ch in joined, joined
    assert any(c.startswith("Local/1003@hotline-demo-seat-") for c in joined), joined
    assert any(c.startswith("Local/110@hotline-out-") for c in joined), joined    # the trunks (or the stand-in)
    assert most == 3, joined                                          # caller, operator and 110 at once
    ext = [e for e in settled if e.name == "UserEvent" and e.get("UserEvent") == "HotlineExternal"
           and e.get("Number") == "110"]
    assert len(ext) == 1
    (x,) = rec["transfers"]
    assert (x["id"], x["target"], x["mode"], x["by"]) == (t.id, "police", "three_way", "8003")
    assert (x["state"], x["result"]) == ("done", "connected")
    assert x["answered_at"] and x["operator_left_at"] and x["ended_at"]
    assert rec["path"][-1] == "bye"
    ended = [e for e in await ev.of(cid) if e["type"] == "call_ended"]
    assert len(ended) == 1 and ended[0]["seat_id"] == "1003"


async def seat_not_on_call(stack, seat_id: str) -> bool:
    st = await stack.hotline.routing.seats.status(seat_id)
    return st.state not in (SeatState.RINGING, SeatState.ON_CALL)


async def test_attended_transfer_hands_the_caller_over(routing):
    """The operator talks to the specialist first (the caller hears music), then hangs up:
    the caller joins the specialist; the operator is free at once."""
    stack = routing
    transfers = stack.hotline.transfers.service
    await stack.ami.action("Setvar", Variable="EXTERNAL_TALK_S", Value="6")   # the specialist talks longer
    await arrange(stack, ready=["1004"])
    ev = Events(stack)
    await ev.mark()
    number = new_number()
    try:
        with ami_events(stack) as seen:
            placed = asyncio.ensure_future(call(stack, caller=number))
            cid = await answered_at_seat(stack, ev, number, "1004")
            t = await transfers.request(cid, "1004", "8004", "housing", "attended")
            assert (t.mode.value, t.state.value, t.number) == ("attended", "consulting", "073128680002")  # with the area code

            async def consulting():
                x = await transfers.active(cid)
                return x.answered_at is not None and x.state.value == "consulting"
            await until(consulting, 10, "the specialist to answer")
            await transfers.hangup(cid, "1004", "seat")          # the operator hands over (console 挂断)
            result, rec = await placed
            settled = list(seen)
    finally:
        await stack.ami.action("Setvar", Variable="EXTERNAL_TALK_S", Value="")

    assert result.completed
    conf = f"hl-{cid}"
    order = [(e.name, e.get("Channel", "")) for e in settled
             if e.get("Conference") == conf and e.name in ("ConfbridgeJoin", "ConfbridgeLeave")]
    caller_join = order.index(("ConfbridgeJoin", rec["channel"]))
    seat_leave = next(i for i, (n, c) in enumerate(order) if n == "ConfbridgeLeave" and c.startswith("Local/1004@"))
    ext_leave = next(i for i, (n, c) in enumerate(order) if n == "ConfbridgeLeave" and c.startswith("Local/073128680002@"))
    assert seat_leave < caller_join < ext_leave, order          # held apart, then handed over to the specialist
    (x,) = rec["transfers"]
    assert (x["mode"], x["state"], x["result"]) == ("attended", "done", "completed")
    assert x["answered_at"] < x["operator_left_at"] < x["ended_at"]
    ended = [e for e in await ev.of(cid) if e["type"] == "call_ended"]
    assert len(ended) == 1 and ended[0]["seat_id"] == "1004"
    # the caller heard music on hold while the operator consulted
    holds = [e for e in settled if e.name == "MusicOnHoldStart" and e.get("Uniqueid") == cid]
    assert holds
