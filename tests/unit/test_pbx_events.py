"""Typed AMI events (pbx/events.py): parsing good, missing and garbage headers, and the
dialplan contract they read (the UserEvents the generated dialplan sends)."""
from __future__ import annotations

import logging
import re

import pytest

from dialplan.hotline import DialplanSpec, render
from dialplan.outbound import OutboundTrunk
from pbx import contract as C
from pbx.ami_events import AMIEvent
from pbx.events import (
    ConfbridgeMember,
    CoreShowChannel,
    DeviceState,
    DeviceStateChange,
    DialEnd,
    Hangup,
    HotlineAnswered,
    HotlineCallbackResult,
    HotlineConfLeft,
    HotlineExternal,
    HotlineFallback,
    HotlineMissed,
    HotlineOutRefused,
    HotlineOutTry,
    HotlineTransferJoined,
    OriginateResponse,
    QueueEntry,
    event_class,
    parse_event,
    queue_items,
)


def test_good_headers_in_any_case():
    e = parse_event(AMIEvent("UserEvent", {"userevent": "hotlineanswered", "UNIQUEID": "1.5",
                                           "Channel": "PJSIP/1004-0000000a", "Context": C.ON_ANSWER,
                                           "CallId": "c-1", "Seat": "1004", "Rec": "/r/c-1"}))
    assert e == HotlineAnswered("1.5", "PJSIP/1004-0000000a", context=C.ON_ANSWER, call_id="c-1", seat="1004",
                                rec="/r/c-1")
    assert parse_event(AMIEvent("hangup", {"Uniqueid": "1.5", "Linkedid": "1.1", "Cause": "16"})) == \
        Hangup("1.5", "", linkedid="1.1", cause=16)
    assert parse_event(AMIEvent("DialEnd", {"Uniqueid": "1.5", "DialStatus": "BUSY", "DestUniqueid": "1.6"})) == \
        DialEnd("1.5", "", dial_status="BUSY", dest_uniqueid="1.6")
    o = parse_event(AMIEvent("OriginateResponse", {"Uniqueid": "xfer-1-c", "Response": "Failure", "Reason": "3"}))
    assert isinstance(o, OriginateResponse) and o.failed and o.reason == "3"
    assert not OriginateResponse.from_headers({"Response": "Success"}).failed
    d = parse_event(AMIEvent("DeviceStateChange", {"Device": "PJSIP/1004", "State": "RINGINUSE"}))
    assert d == DeviceStateChange("", "", device="PJSIP/1004", state=DeviceState.RINGINUSE)
    left = HotlineConfLeft.from_headers({"CallId": "c", "Transfer": "t1", "Role": C.ROLE_EXTERNAL, "Conference": "x"})
    assert (left.call_id, left.transfer, left.role, left.conference) == ("c", "t1", "external", "x")


def test_missing_headers_are_empty_or_none():
    assert HotlineAnswered.from_headers({}) == HotlineAnswered("", "", context="", call_id="", seat=None, rec=None)
    assert HotlineAnswered.from_headers({"Seat": "", "Rec": ""}).seat is None      # a variable left empty
    assert HotlineTransferJoined.from_headers({"CallId": "c"}).transfer is None
    assert HotlineCallbackResult.from_headers({}).status == ""
    assert Hangup.from_headers({}).cause is None
    assert DeviceStateChange.from_headers({}).state is DeviceState.UNKNOWN
    assert CoreShowChannel.from_headers({}) == CoreShowChannel("")
    assert ConfbridgeMember.from_headers({"Channel": "PJSIP/1-1"}).channel == "PJSIP/1-1"


def test_garbage_values_never_raise():
    assert Hangup.from_headers({"Cause": "sixteen"}).cause is None
    assert Hangup.from_headers({"Cause": "-1"}).cause is None
    assert DeviceStateChange.from_headers({"State": "\ufffdINUSE"}).state is DeviceState.UNKNOWN
    assert DeviceState.parse(" inuse ") is DeviceState.INUSE and DeviceState.parse(None) is DeviceState.UNKNOWN
    assert QueueEntry.from_headers({"Position": "x", "Wait": "12"}) == QueueEntry("", position=None, wait_s=12)
    # A header sent twice (the dialplan names Uniqueid, Asterisk adds it too): its first value.
    assert HotlineFallback.from_headers({"Uniqueid": "1.5\n1.5", "Reason": "agi_FAILURE"}) == \
        HotlineFallback("1.5", "", reason="agi_FAILURE")


def test_unknown_and_malformed_events_parse_to_none(caplog, monkeypatch):
    assert parse_event(AMIEvent("Newchannel", {"Uniqueid": "1"})) is None
    assert parse_event(AMIEvent("UserEvent", {"UserEvent": "HotlineProbe"})) is None
    assert parse_event(AMIEvent("UserEvent", {})) is None
    assert parse_event(AMIEvent("", {"UserEvent": "HotlineAnswered"})) is None
    assert event_class("UserEvent", "HotlineAnswered") is HotlineAnswered and event_class("HotlineAnswered") is None

    def broken(cls, headers):
        raise RuntimeError("cannot read")

    monkeypatch.setattr(Hangup, "from_headers", classmethod(broken))
    caplog.set_level(logging.WARNING, logger="hotline.pbx.events")
    assert parse_event(AMIEvent("Hangup", {"Uniqueid": "1"})) is None
    assert "Hangup event not understood" in caplog.text


def test_queue_items_typed_and_others_left_out():
    items = queue_items([AMIEvent("QueueEntry", {"Queue": "q", "Channel": "Local/a-1;1", "Position": "1"}),
                         AMIEvent("QueueStatusComplete", {})])
    assert items == [QueueEntry("q", channel="Local/a-1;1", position=1)]


def test_typed_events_are_frozen():
    e = Hangup.from_headers({"Uniqueid": "1"})
    with pytest.raises(AttributeError):
        e.uniqueid = "2"  # type: ignore[misc]


USER_EVENTS = (HotlineAnswered, HotlineCallbackResult, HotlineTransferJoined, HotlineConfLeft, HotlineFallback,
               HotlineMissed, HotlineExternal, HotlineOutTry, HotlineOutRefused)


def test_every_user_event_the_dialplan_sends_has_a_class_and_the_headers_it_reads():
    text = render(DialplanSpec(agi_url="agi://127.0.0.1:4573", prompts={},
                               out_trunks=(OutboundTrunk("t1", "073112345"),)))
    sent: dict[str, set[str]] = {}
    for m in re.finditer(r"UserEvent\((\w+)((?:,[A-Za-z]+: [^,)]*)*)\)", text):
        sent.setdefault(m.group(1), set()).update(re.findall(r",([A-Za-z]+): ", m.group(2)))
    assert set(sent) == {c.NAME for c in USER_EVENTS}
    for cls in USER_EVENTS:
        assert event_class("UserEvent", cls.NAME) is cls
        # each header the dialplan sends reaches a field (Uniqueid: the channel's own, as Asterisk adds it)
        e = cls.from_headers({h: f"v-{h}" for h in sent[cls.NAME]})
        assert sum(f"v-{h}" in (getattr(e, f) or "") for h in sent[cls.NAME] for f in vars(e)) == \
            len(sent[cls.NAME]), cls


def test_every_context_of_the_contract_is_rendered_and_the_agi_scripts_are_called():
    text = render(DialplanSpec(agi_url="agi://127.0.0.1:4573", prompts={}, seat_out=(("1001", "PJSIP/1001"),)))
    rendered = set(re.findall(r"^\[([^\]]+)\]", text, re.M))
    contexts = {C.ENTRY, C.IVR, C.FALLBACK, C.SIM_CALLER, C.DEMO_SEAT, C.EXTERNAL, C.ON_ANSWER, C.CALLBACK,
                C.LIVE_SPY, C.CONFERENCE, C.SPY, C.OUT, C.SEAT_OUT, C.REFER}
    assert contexts <= rendered, contexts - rendered
    for script in (C.AGI_IVR, C.AGI_SEAT_OUT, C.AGI_REFER):
        assert f"AGI(agi://127.0.0.1:4573/{script})" in text
    assert C.seat_interface("1001", demo=True) == f"Local/1001@{C.DEMO_SEAT}/n"
    assert C.seat_interface("1001", demo=False) == "PJSIP/1001"
