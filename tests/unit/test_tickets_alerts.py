"""The console alert: an event of its own when a draft names an emergency, once per call and kind."""
from __future__ import annotations

from types import SimpleNamespace

from tickets.alerts import AlertOnce, EmergencyAlert, alert_event
from tickets.extract import extract
from tickets.rules import load_rules


def ticket_of(text):
    return SimpleNamespace(id="ZZ12345-20261203-000001", draft=extract(text, load_rules(), model=None).to_dict())


def test_alert_for_a_life_safety_cue_and_none_otherwise():
    alert = alert_event("c1", ticket_of("快 来人 啊 对面 楼 着火 了 烟 好大"))
    assert alert is not None
    ev = alert.to_dict()
    assert list(ev) == ["type", "call_id", "ticket", "emergency", "cues", "confidence"]
    assert ev["type"] == "emergency_alert" and ev["emergency"] == "119" and ev["call_id"] == "c1"
    assert ev["ticket"] == "ZZ12345-20261203-000001" and ev["cues"]
    assert alert_event("c1", ticket_of("您 打 我 座机 就 行 我 想 问 一下 社保 怎么 交")) is None
    assert alert_event("c1", SimpleNamespace(id="x", draft={})) is None


def test_alert_once_per_call_and_kind():
    once = AlertOnce(limit=2)
    def alert(call_id: str, emergency: str) -> EmergencyAlert:
        return EmergencyAlert(call_id=call_id, ticket="t", emergency=emergency, cues=[], confidence=None)

    a = alert("c1", "119")
    assert once.first(a) and not once.first(a)
    assert once.first(alert("c1", "120"))
    assert once.first(alert("c2", "119"))     # oldest forgotten past the limit
    assert not once.first(None)
