"""The call record's transitions (ivr/call_record.py): pure, no Redis."""
import pytest

from ivr import call_record as R
from ivr.call_record import Apply, CallStatus, Ignore, Refuse, decide

S = CallStatus


def started(**kw) -> R.Started:
    return R.Started("c1", "13800001111", "", "12345", 3, "PJSIP/t-1", 100.0, **kw)


def ended(finished: bool = True) -> R.Ended:
    return R.Ended(("welcome", "general_q"), {"kind": "queue"}, {"lane": "general"}, (), "caller_hangup", 200.0,
                   finished)


def walk(*transitions: R.Transition) -> dict:
    """Apply transitions in order as the store would; the record's fields after them."""
    rec: dict = {}
    for t in transitions:
        d = decide(R.status_of(rec.get("status")), t, exists=bool(rec.get("status")))
        if isinstance(d, Apply):
            rec.update(d.fields)
    return rec


def test_started_creates_the_record_with_the_fields_the_readers_know():
    assert decide(None, started(), exists=False) == Apply({
        "call_id": "c1", "caller": "13800001111", "caller_name": "", "did": "12345", "version": 3,
        "channel": "PJSIP/t-1", "started": 100.0, "status": "ivr", "path": []})
    fields = started(trunk="carrier", node="n1", withheld=True).fields()
    assert (fields["withheld"], fields["trunk"], fields["node"]) == (1, "carrier", "n1")
    assert isinstance(decide(S.IVR, started()), Refuse)            # a record is never started twice


def test_an_answered_call_from_queue_to_the_end_of_the_walk():
    rec = walk(started(), R.LaneChosen("general"), R.Queued("general", 110.0), R.Offered("1001"),
               R.Answered("1001", 120.0, "/rec/c1.wav"), ended())
    assert rec["status"] == "ended" and rec["seat"] == "1001" and rec["answered"] == 120.0
    assert (rec["queued_at"], rec["recording"], rec["end_reason"]) == (110.0, "/rec/c1.wav", "caller_hangup")
    assert walk(started(), R.Queued("general", 1.0), ended(finished=False))["status"] == "handed_over"


def test_a_second_answer_is_ignored_and_the_first_kept():
    """The AMI event and the caller's session both report the seat's answer (whichever comes first)."""
    d = decide(S.ANSWERED, R.Answered("1001", 130.0))
    assert isinstance(d, Ignore) and "already answered" in d.reason
    rec = walk(started(), R.Queued("general", 110.0), R.Offered("1001"), R.Answered("1001", 120.0),
               R.Answered("1001", 130.0, "/rec/c1.wav"))
    assert rec["answered"] == 120.0 and "recording" not in rec


@pytest.mark.parametrize("status", [S.ENDED, S.HANDED_OVER, S.IVR, S.QUEUED, S.CALLBACK, S.MISSED])
def test_answered_only_from_ringing(status):
    d = decide(status, R.Answered("1001", 1.0))
    assert isinstance(d, Refuse) and status.value in d.reason


def test_no_status_change_on_a_call_without_a_record():
    for t in (R.Queued("general", 1.0), R.Answered("1001", 1.0), R.Missed(), ended()):
        d = decide(None, t, exists=False)
        assert isinstance(d, Refuse) and "no record" in d.reason


def test_the_walks_end_keeps_what_routing_set_last():
    for kept in (S.CALLBACK, S.CALLBACK_CONNECTED, S.MISSED):
        d = decide(kept, ended())
        assert isinstance(d, Apply) and "status" not in d.fields and d.fields["end_reason"] == "caller_hangup"
    assert isinstance(decide(S.ENDED, ended()), Refuse)                       # the walk ends once


def test_a_callback_from_the_request_to_the_connection_or_the_list():
    base = (started(), R.Queued("general", 1.0), R.CallbackRequested("07318888999"), ended())
    assert walk(*base)["status"] == "callback" and walk(*base)["callback_number"] == "07318888999"
    rec = walk(*base, R.CallbackConnected("1002", 300.0))
    assert (rec["status"], rec["seat"], rec["callback_at"]) == ("callback_connected", "1002", 300.0)
    assert walk(*base, R.Missed())["status"] == "missed"
    assert isinstance(decide(S.CALLBACK_CONNECTED, R.CallbackConnected("1002", 1.0)), Ignore)
    assert isinstance(decide(S.ENDED, R.CallbackRequested("1")), Refuse)       # the caller is gone


def test_no_seat_in_time_then_the_trees_on_fail_may_queue_again():
    rec = walk(started(), R.Queued("general", 1.0), R.Offered("1001"), R.Missed(), R.Queued("voicemail", 5.0))
    assert (rec["status"], rec["lane"]) == ("queued", "voicemail")
    assert isinstance(decide(S.MISSED, R.Missed()), Ignore)
    assert isinstance(decide(S.ANSWERED, R.Offered("1002")), Refuse)


def test_facts_are_written_in_any_status_even_after_the_walk():
    """The draft ticket, the kept recording, the survey come after the walk is over."""
    for t, want in ((R.TicketLinked("T1"), {"ticket": "T1"}),
                    (R.RecordingKept("/k/c1.ogg"), {"recording": "/k/c1.ogg"}),
                    (R.RecordingKept("/k/d.ogg", describe=True), {"describe_recording": "/k/d.ogg"}),
                    (R.SeatConnected("PJSIP/1001-1"), {"seat_channel": "PJSIP/1001-1"}),
                    (R.Transferred("12366", "ANSWER"), {"transfer": "12366:ANSWER"}),
                    (R.Described("/d/c1.wav", "silence"), {"describe_recording": "/d/c1.wav", "describe_ended": "silence"}),
                    (R.MenuDone({"kind": "queue"}, ("welcome",)), {"outcome": {"kind": "queue"}, "path": ["welcome"]})):
        assert not R.needs_status(t)
        assert decide(S.ENDED, t) == Apply(want)
    assert R.Surveyed("rated", "rate", rating="1").fields() == {
        "survey_when": "before_transfer", "survey_node": "rate", "survey_result": "rated", "rating": "1"}
    assert R.Surveyed("skipped", reason="no_survey").fields() == {
        "survey_when": "before_transfer", "survey_result": "skipped", "survey_reason": "no_survey"}


def test_encoded_as_the_hash_keeps_them_and_decoded_as_the_readers_see_them():
    enc = R.encode({"path": ["a"], "outcome": None, "withheld": True, "version": 3, "vars": {"k": "值"}})
    assert enc == {"path": '["a"]', "outcome": "", "withheld": 1, "version": 3, "vars": '{"k": "值"}'}
    got = R.decode({"path": '["a"]', "vars": '{"k": "值"}', "outcome": "", "transfers": "not json"})
    assert got == {"path": ["a"], "vars": {"k": "值"}, "outcome": "", "transfers": "not json"}


def test_the_typed_view_of_a_stored_record():
    rec = R.CallRecord.from_data({"call_id": "c1", "status": "answered", "version": "3", "path": ["welcome"],
                                  "seat_channel": "PJSIP/1001-1", "answered": "120.5", "transfers": [{"id": "t"}],
                                  "caller": "138"})
    assert (rec.status, rec.version, rec.path, rec.seat_channel, rec.answered) == (
        S.ANSWERED, 3, ("welcome",), "PJSIP/1001-1", 120.5)
    assert rec.transfers == ({"id": "t"},) and rec.data["caller"] == "138"
    odd = R.CallRecord.from_data({"status": "something_old", "version": "x", "path": "garbage"})
    assert (odd.status, odd.version, odd.path) == (None, 0, ())


def test_a_revisit_and_a_leader_session_are_facts_on_the_record():
    rec = walk(started(), R.LeaderStep("ls1", "announced"), R.LeaderStep("ls1", "offered"),
               R.LeaderStep("ls1", "answered"), ended(), R.RevisitCall("ZZ12345-20261203-000001"))
    assert (rec["leader_session"], rec["leader_announced"], rec["leader_offered"], rec["leader_answered"]) == \
        ("ls1", 1, 1, 1)
    assert "leader_overflow" not in rec and rec["status"] == "ended"
    assert (rec["kind"], rec["revisit_ticket"]) == ("revisit", "ZZ12345-20261203-000001")
    with pytest.raises(ValueError):
        R.LeaderStep("ls1", "status").fields()          # only the named steps: no field of another owner


def test_the_sessions_report_after_the_seat_hung_up_is_a_repeat_once_the_walk_is_over():
    late = R.Answered("1001", 300.0, after_dial=True)
    assert isinstance(decide(S.ENDED, late), Ignore) and isinstance(decide(S.HANDED_OVER, late), Ignore)
    assert isinstance(decide(S.ENDED, R.Answered("1001", 300.0)), Refuse)    # any other answer after the end
    assert isinstance(decide(S.RINGING, late), Apply)                         # the first report, when AMI was late
