"""The node-action channel's pure parts: the whitelist, payload checks, the request and reply encoding."""
import pytest

from agents.node_actions import (
    ACTIONS,
    ActionRefused,
    BadAction,
    check_payload,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)

RID = "0123456789abcdef0123456789abcdef"
REPLY = "hl:action_reply:"


def test_only_whitelisted_actions_and_fields_pass():
    assert set(ACTIONS) == {"supervise", "transfer", "hangup", "live_capture"}
    assert check_payload("hangup", {"seat": "1001", "call_id": "1700.5", "leg": "seat", "x": None}) == \
        {"seat": "1001", "call_id": "1700.5", "leg": "seat"}
    assert check_payload("live_capture", {"call_id": "c1", "on": True}) == {"call_id": "c1", "on": "1"}
    for action, payload in [("originate", {"seat": "1001"}),                       # not an action
                            ("hangup", {"seat": "1001", "leg": "seat", "channel": "PJSIP/x"}),   # unknown field
                            ("hangup", {"seat": "1001", "leg": "both"}),           # not seat|target
                            ("hangup", {"seat": "1001&Channel: x", "leg": "seat"}),  # injection refused
                            ("hangup", {"seat": "1001"}),                          # leg missing
                            ("supervise", {"seat": "1001", "mode": "listen", "spy": "spy-1", "number": "110;x"}),
                            ("transfer", {"seat": "1001", "by": "op", "target": 12366})]:   # not a string
        with pytest.raises(BadAction):
            check_payload(action, payload)


def test_request_round_trip_and_tampered_requests_refused():
    raw = encode_request(RID, "hangup", {"seat": "1001", "leg": "target"}, REPLY + RID, 12.5)
    req = decode_request(raw, REPLY)
    assert (req.id, req.action, req.payload, req.reply_to, req.deadline) == \
        (RID, "hangup", {"seat": "1001", "leg": "target"}, REPLY + RID, 12.5)
    with pytest.raises(BadAction):                    # the reply must go to the reply key of that request
        decode_request(encode_request(RID, "hangup", {"seat": "1001", "leg": "seat"}, "hl:seat:1001", 1), REPLY)
    with pytest.raises(BadAction):                    # the payload is checked on the receiving side too
        decode_request(encode_request(RID, "hangup", {"seat": "1 1", "leg": "seat"}, REPLY + RID, 1), REPLY)
    for junk in ("", "[]", "{}", '{"id": "x"}'):
        with pytest.raises(BadAction):
            decode_request(junk, REPLY)


def test_replies_give_the_result_or_the_owners_refusal():
    assert decode_reply(encode_reply({"call_id": "c1", "leg": "seat"})) == {"call_id": "c1", "leg": "seat"}
    with pytest.raises(ActionRefused) as e:
        decode_reply(encode_reply(error=(409, "no_channel", "未找到该坐席的通话通道", {"seat": "1001"})))
    assert (e.value.status, e.value.error_id, e.value.message, e.value.details) == \
        (409, "no_channel", "未找到该坐席的通话通道", {"seat": "1001"})
