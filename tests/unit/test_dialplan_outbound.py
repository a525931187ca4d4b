"""Calls out as dialplan (pure): the hotline-out context, its trunk failover, and the audit that no
caller-controlled value is re-parsed by the dialplan as a dial string or options."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialplan import hotline as dp
from dialplan.outbound import FAILOVER_STATUSES, OUT, OutboundTrunk, from_trunks
from dialplan.trunks import parse_trunks

REPO = Path(__file__).resolve().parents[2]
TRUNKS = (OutboundTrunk("carrier", "12345"), OutboundTrunk("backup", "073112345", "ZZ 12345"))


def context(text: str, name: str) -> list[str]:
    block = text.split(f"[{name}]\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


def rendered(trunks=TRUNKS) -> str:
    return dp.render(dp.DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}, out_trunks=trunks))


def test_hotline_out_tries_the_trunks_in_order_with_the_hotline_caller_id():
    lines = context(rendered(), OUT)
    dials = [i for i, line in enumerate(lines) if ",Dial(" in line]
    assert [re.search(r"Dial\((PJSIP/\$\{NUM\}@\w+)", lines[i]).group(1) for i in dials] == \
        ["PJSIP/${NUM}@carrier", "PJSIP/${NUM}@backup"]
    # the caller ID of each trunk is set before its Dial, never anything the caller gave
    cid = [line for line in lines if "CALLERID(all)" in line]
    assert cid[0].endswith('Set(CALLERID(all)="" <12345>)') and cid[1].endswith('Set(CALLERID(all)="ZZ 12345" <073112345>)')
    assert all(lines.index(c) < d for c, d in zip(cid, dials))
    failover = [line for line in lines if "GotoIf" in line and "DIALSTATUS" in line]
    assert len(failover) == 2
    for s in FAILOVER_STATUSES:
        assert f'"${{DIALSTATUS}}" = "{s}"' in failover[0]
    assert "BUSY" not in failover[0] and "NOANSWER" not in failover[0]
    assert failover[0].endswith("?try1:over)") and failover[1].endswith("?try2:over)")


def test_hotline_out_uses_the_extension_only_filtered_to_digits():
    lines = context(rendered(), OUT)
    assert lines[0] == "exten => _X.,1,Set(NUM=${FILTER(0-9,${EXTEN:0:20})})"
    assert lines[1].endswith("GotoIf($[${LEN(${NUM})} != ${LEN(${EXTEN})}]?refused)")   # changed by filtering
    assert any(line.endswith("(refused),UserEvent(HotlineOutRefused,Uniqueid: ${UNIQUEID})") for line in lines)


def test_hotline_out_refuses_abroad_unless_the_policy_allows_the_prefix():
    lines = context(rendered(), OUT)
    assert lines[2].endswith('GotoIf($["${NUM:0:2}" != "00"]?try0)') and lines[3].endswith("Goto(refused)")
    spec = dp.DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}, out_trunks=TRUNKS, out_international=("00852",))
    lines = context(dp.render(spec), OUT)
    assert lines[3].endswith('GotoIf($["${NUM:0:5}" = "00852"]?try0)') and lines[4].endswith("Goto(refused)")
    with pytest.raises(ValueError):
        dp.render(dp.DialplanSpec(agi_url="a", prompts={}, out_international=('00"|1',)))


def test_without_trunks_numbers_go_to_the_stand_in():
    lines = context(rendered(()), OUT)
    assert any("Dial(Local/${NUM}@hotline-external)" in line for line in lines)


def test_callback_dials_the_checked_number_through_hotline_out():
    lines = context(rendered(), dp.CALLBACK)
    text = "\n".join(lines)
    assert "CB_DIAL" not in text
    assert "Set(NUM=${FILTER(0-9,${CB_NUM:0:20})})" in text
    assert "GotoIf($[${LEN(${NUM})} = 0 | ${LEN(${NUM})} != ${LEN(${CB_NUM})}]?refused)" in text
    assert re.search(r"Dial\(Local/\$\{NUM\}@hotline-out,30,gU\(", text)


@pytest.mark.parametrize("name", ["回拨", 'a"b', "x<y>", "a;b", "a\nb", "x" * 41])
def test_display_name_is_plain_ascii_or_none(name):
    with pytest.raises(ValueError):
        OutboundTrunk("carrier", "12345", name)


@pytest.mark.parametrize("cid", ["", "12345&1", "1;2", "abc", "1" * 21])
def test_caller_id_is_digits(cid):
    with pytest.raises(ValueError):
        OutboundTrunk("carrier", cid)


def test_from_trunks_keeps_the_settings_order_and_skips_inbound_only_trunks():
    problems: list[str] = []
    trunks = parse_trunks({
        "first": {"outbound": "sip:127.0.0.3:5070", "caller_id": "12345"},
        "inbound": {"inbound_from": ["127.0.0.9/32"]},
        "second": {"outbound": "sip:127.0.0.4:5070", "display_name": "ZZ12345"},
    }, problems)
    assert not problems
    out = from_trunks(trunks, "073112345")
    assert [(t.endpoint, t.caller_id, t.display_name) for t in out] == \
        [("first", "12345", ""), ("second", "073112345", "ZZ12345")]
    trunks = parse_trunks({
        "a": {"outbound": "sip:127.0.0.3:5070", "outbound_order": 2},
        "b": {"outbound": "sip:127.0.0.4:5070", "outbound_order": 1},
        "c": {"outbound": "sip:127.0.0.5:5070", "outbound_order": 0},      # inbound and registration only
        "d": {"outbound": "sip:127.0.0.6:5070", "outbound_order": 2},
    }, problems)
    assert not problems
    assert [t.endpoint for t in from_trunks(trunks)] == ["b", "a", "d"]
    parse_trunks({"x": {"outbound": "sip:127.0.0.3", "outbound_order": -1}}, problems)
    assert problems and "outbound_order" in problems[0]


# ------------------------------------------------------------------ the audit (issue 12, item 1)

_DIAL_LIKE = re.compile(r",(Dial|Originate|ChanSpy|Queue|Goto|Gosub)\((.*)\)$")


def test_no_dial_string_in_the_dialplan_comes_from_a_variable_that_was_not_filtered():
    """Every variable inside the first argument of a Dial is a digit-only filter result of the same
    context, or a fixed name (the trunk endpoint is literal text)."""
    text = rendered()
    for ctx in re.findall(r"^\[([^\]]+)\]$", text, flags=re.M):
        lines = context(text, ctx)
        filtered = {m.group(1) for line in lines for m in [re.search(r"Set\((\w+)=\$\{FILTER\(0-9,", line)] if m}
        for line in lines:
            m = re.search(r",Dial\(([^,)]*)", line)
            if not m:
                continue
            for var in re.findall(r"\$\{(\w+)", m.group(1)):
                assert var in filtered, f"[{ctx}] {line}: {var} reaches a dial string unfiltered"


def test_controller_code_builds_no_dial_string_from_an_unchecked_value():
    """The Python side: every place that formats a dial template (``.dial.format`` / ``transfer_dial``)
    does it on a number the dialling policy returned; CB_DIAL (a whole dial string in a variable) is gone."""
    sources = [p for d in ("agents", "hotline", "ivr", "web", "pbx", "dialplan") for p in (REPO / d).glob("*.py")]
    for p in sources:
        text = p.read_text(encoding="utf-8")
        assert "CB_DIAL" not in text, p
        for m in re.finditer(r"\.format\(number=([^)]*)\)", text):
            assert m.group(1) in ("number",), f"{p.name}: dial template formatted with {m.group(1)}"


def test_seat_out_dials_colleagues_by_number_and_external_numbers_only_after_the_policy():
    spec = dp.DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={},
                           seat_out=(("1001", "PJSIP/1001"), ("1002", "Local/1002@hotline-demo-seat/n")))
    lines = context(dp.render(spec), "hotline-seat-out")
    assert "exten => 1001,1,Dial(PJSIP/1001,30)" in lines
    assert "exten => 1002,1,Dial(Local/1002@hotline-demo-seat/n,30)" in lines
    ext = lines[lines.index("exten => _X.,1,Set(HOTLINE_OUT_NUM=)"):][:7]
    assert ext[1].endswith("AGI(agi://127.0.0.1:1/seat-out)")
    assert ext[2].endswith("Set(NUM=${FILTER(0-9,${HOTLINE_OUT_NUM:0:20})})")
    assert "?refused" in ext[3] and ext[4].endswith("Dial(Local/${NUM}@hotline-out,60)")
    # a seat id that cannot be keyed on a phone (letters, or anything worse) is left out, never rendered
    odd = context(dp.render(dp.DialplanSpec(agi_url="a", prompts={},
                                            seat_out=(("10&1", "PJSIP/1001"), ("b0001", "PJSIP/b0001")))),
                  "hotline-seat-out")
    assert not any("10&1" in line or "b0001" in line for line in odd)
    with pytest.raises(ValueError):
        dp.render(dp.DialplanSpec(agi_url="a", prompts={}, seat_out=(("1001", "PJSIP/1001,,t"),)))


def test_refer_from_a_seat_goes_back_to_the_controller():
    text = rendered()
    on_answer = "\n".join(context(text, dp.ON_ANSWER))
    assert "Set(TRANSFER_CONTEXT=hotline-refer)" in on_answer
    lines = context(text, "hotline-refer")
    assert lines[0] == "exten => _X.,1,AGI(agi://127.0.0.1:1/refer)" and "Dial" not in "\n".join(lines)


def test_mixmonitor_writes_each_direction_only_when_asked():
    """hotline up (ChanSpy for live speech-to-text) records the conversation once; the per-direction
    files are only for a live transcriber that follows files."""
    from dialplan.hotline import ON_ANSWER, DialplanSpec, build

    def mixmonitor(spec):
        (ctx,) = [c for c in build(spec).contexts if c.name == ON_ANSWER]
        return [line for line in ctx.render().splitlines() if "MixMonitor" in line]

    both = mixmonitor(DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}))
    one = mixmonitor(DialplanSpec(agi_url="agi://127.0.0.1:1", prompts={}, record_directions=False))
    assert len(both) == 1 and "r(${ARG1}-seat.wav)t(${ARG1}-caller.wav)" in both[0]
    assert len(one) == 1 and one[0].rstrip().endswith("MixMonitor(${ARG1}.wav)"), one
