"""`hotline calls recent`: the summary of one call record (pure)."""
from hotline.cli_calls import summary, text_line


def test_summary_masks_and_lists_recordings(tmp_path):
    rec = {"call_id": "hotline-1796236250.12", "channel": "PJSIP/carrier-00000001", "caller": "13900001111",
           "did": "12345", "path": ["start", "menu", "enterprise_q", "bye"], "lane": "enterprise", "seat": "1005",
           "end_reason": "caller_hangup", "describe_recording": str(tmp_path / "d.wav"),
           "recording": str(tmp_path / "c.ogg"), "ticket": "T1", "node": "vm-1", "started": "1796236250.5",
           "trunk": "carrier"}
    s = summary(rec)
    assert s["caller"] == "139****1111" and not s["withheld"]
    assert s["recordings"] == [str(tmp_path / "d.wav"), str(tmp_path / "c.ogg")]
    assert (s["lane"], s["seat"], s["ticket"], s["node"], s["ivr_node"]) == ("enterprise", "1005", "T1", "vm-1", "bye")
    assert summary(rec, unmasked=True)["caller"] == "13900001111"
    line = text_line(s)
    assert "13900001111" not in line and "start→menu→enterprise_q→bye" in line


def test_summary_of_a_withheld_call_with_little_on_it():
    s = summary({"call_id": "x", "caller": "", "withheld": "1"})
    assert s["caller"] == "" and s["withheld"] and s["path"] == [] and s["recordings"] == []
    assert s["lane"] is None and s["ticket"] is None and "(withheld)" in text_line(s)
