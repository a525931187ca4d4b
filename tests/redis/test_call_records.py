"""The call record's store on a real Redis (ivr/calls.py): named transitions written compare-and-set,
the transcript and transfer records beside the call, read back as the one record the web API gives;
and the seat's answer reported twice (AMI and the caller's session) moving the call once."""
import json
import logging

import pytest

from agents.model import CallPhase
from ivr.call_record import Apply, Ignore, Refuse
from ivr.calls import CallRecords
from tests.redis.test_agents_service import GEN, Hotline


@pytest.fixture
async def calls(redis_client):
    sunk: list[tuple[str, dict]] = []
    store = CallRecords(redis_client, sink=lambda cid, fields: sunk.append((cid, fields)))
    store.sunk = sunk
    await store.started("c1", caller="13800001111", caller_name="", did="12345", version=2, channel="PJSIP/t-1",
                        at=100.0, trunk="carrier", node="n1")
    return store


async def test_a_call_through_its_transitions_reads_as_the_one_record(calls, redis_client):
    await calls.lane_chosen("c1", "general")
    assert isinstance(await calls.queued("c1", "general", at=110.0), Apply)
    await calls.offered("c1", "1001")
    await calls.answered("c1", "1001", recording="/rec/c1.wav", at=120.0)
    await calls.seat_connected("c1", "PJSIP/1001-1")
    await calls.transcripts.live("c1", [{"speaker": "caller", "text": "停水了"}])
    await redis_client.hset(calls.transfers_key("c1"), "transfers", json.dumps([{"id": "t1", "state": "done"}]))
    await calls.ended("c1", path=["welcome", "general_q"], outcome={"kind": "queue"}, variables={}, notes=[],
                      end_reason="caller_hangup", finished=True, at=200.0)
    rec = await calls.get("c1")
    assert rec["status"] == "ended" and rec["seat"] == "1001" and rec["answered"] == "120.0"
    assert (rec["trunk"], rec["node"], rec["withheld"], rec["version"]) == ("carrier", "n1", "0", "2")
    assert rec["path"] == ["welcome", "general_q"] and rec["outcome"] == {"kind": "queue"}
    assert rec["live_transcript"] == [{"speaker": "caller", "text": "停水了"}]
    assert rec["transfers"] == [{"id": "t1", "state": "done"}]
    # the transcript is not in the call hash: a record of its own, expiring with the call
    assert not await redis_client.hexists(calls.key("c1"), "live_transcript")
    assert 0 < await redis_client.ttl(calls.transcripts.key("c1")) <= calls.ttl
    typed = await calls.record("c1")
    assert (typed.seat_channel, typed.recording, typed.version) == ("PJSIP/1001-1", "/rec/c1.wav", 2)
    # the system of record got every accepted write, in order
    assert [f.get("status") for _, f in calls.sunk if "status" in f] == ["ivr", "queued", "ringing", "answered",
                                                                         "ended"]
    assert ("c1", {"live_transcript": [{"speaker": "caller", "text": "停水了"}]}) in calls.sunk


async def test_an_answer_after_the_end_and_a_second_answer_are_not_written(calls, caplog):
    await calls.queued("c1", "general")
    await calls.offered("c1", "1001")
    assert isinstance(await calls.answered("c1", "1001", at=120.0), Apply)
    with caplog.at_level(logging.DEBUG, logger="ivr.calls"):
        assert isinstance(await calls.answered("c1", "1001", at=130.0), Ignore)
    assert "already answered" in caplog.text
    await calls.ended("c1", path=[], outcome=None, variables={}, notes=[], end_reason="", finished=True)
    assert isinstance(await calls.answered("c1", "1002"), Refuse)
    assert isinstance(await calls.offered("c1", "1002"), Refuse)
    rec = await calls.get("c1")
    assert (rec["status"], rec["seat"], rec["answered"]) == ("ended", "1001", "120.0")
    assert "Answered refused: Answered: not from ended" in caplog.text


async def test_a_status_changed_between_the_read_and_the_write_is_decided_again(calls, redis_client):
    """A writer reads "ringing"; another moves the call to answered before it writes: its compare-and-set
    fails, and decided again on "answered" it is a repeat (not a second answer over the first)."""
    await calls.queued("c1", "general")
    await calls.offered("c1", "1001")
    real_hget, first = redis_client.hget, [True]

    async def hget_then_other_writer(key, name):
        got = await real_hget(key, name)
        if first.pop() if first else False:
            await redis_client.hset(key, mapping={"status": "answered", "answered": "115.0"})
        return got
    calls.r = type("R", (), {"hget": staticmethod(hget_then_other_writer)})()
    assert isinstance(await calls.answered("c1", "1001", at=120.0), Ignore)
    rec = await redis_client.hgetall(calls.key("c1"))
    assert (rec["status"], rec["answered"]) == ("answered", "115.0")


async def test_a_record_is_started_once_and_a_missing_one_not_changed(calls):
    again = await calls.started("c1", caller="1", caller_name="", did="", version=9, channel="x")
    assert isinstance(again, Refuse) and (await calls.get("c1"))["version"] == "2"
    assert isinstance(await calls.missed("nobody"), Refuse)
    assert await calls.get("nobody") is None


async def test_records_from_before_the_split_still_read_whole(calls, redis_client):
    """A call hash written by the earlier version (transcript and transfers inside) reads the same."""
    await redis_client.hset(calls.key("old"), mapping={
        "call_id": "old", "status": "ended", "transcript": "旧的", "transfers": json.dumps([{"id": "x"}])})
    rec = await calls.get("old")
    assert rec["transcript"] == "旧的" and rec["transfers"] == [{"id": "x"}]


async def test_the_seats_answer_reported_twice_moves_the_call_once(redis_client):
    """The AMI HotlineAnswered and the caller's session's Dial both say the seat answered; under load the
    AMI event comes late, and reads "ringing" just before the session's report moves the call. Its
    `answered` is then refused by the routing Lua: that was the "HotlineAnswered ... call state"
    warning. Now the later report is a no-op."""
    h = Hotline(redis_client, {"1001": GEN})
    await h.seats.login("1001", "op1001")
    await h.call("c1")
    assert await h.match() == [("c1", "1001")]
    ringing = await h.router.call("c1")
    await h.router.answered("c1", "1001")          # the session's report, between the AMI one's read and write
    real, reads = h.store.call, iter([ringing])

    async def stale_then_real(call_id):
        return next(reads, None) or await real(call_id)
    h.store.call = stale_then_real
    assert await h.router.answered_if_ringing("c1", "1001") is False      # (was CallStateError: "call state")
    assert (await h.router.call("c1")).phase == CallPhase.ON_CALL
    await h.router.ended("c1", wrap_up_s=0)
    assert await h.router.answered_if_ringing("c1", "1001") is False        # over: nothing to answer


async def test_a_record_redis_lost_mid_call_is_written_back_before_the_next_transition(calls, redis_client):
    """FLUSHALL while the call rings a seat: the answer and the end are not refused as 'no record';
    the record is written back from what this controller wrote, and the system of record gets them."""
    await calls.lane_chosen("c1", "general")
    await calls.queued("c1", "general", at=110.0)
    await calls.offered("c1", "1001")
    await redis_client.flushall()
    assert isinstance(await calls.answered("c1", "1001", recording="/rec/c1.wav", at=120.0), Apply)
    assert isinstance(await calls.ended("c1", path=["welcome", "general_q"], outcome=None, variables={}, notes=[],
                                        end_reason="caller_hangup", finished=True, at=200.0), Apply)
    rec = await calls.get("c1")
    assert (rec["status"], rec["seat"], rec["lane"], rec["caller"]) == ("ended", "1001", "general", "13800001111")
    assert ("c1", {"status": "ended"}) in [(c, {k: v for k, v in f.items() if k == "status"}) for c, f in calls.sunk]
    # a call this process did not start is still refused without a record
    assert isinstance(await calls.answered("other", "1001", at=1.0), Refuse)
