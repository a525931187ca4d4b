"""The IVR tree on live calls through the real Asterisk: every node type, the
default tree's main paths, and publishing while a call is in the tree."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import wave
from pathlib import Path

import pytest

from hotline.simcall import place_call
from ivr.loader import parse_file
from tests.e2e.helpers import publish

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent.parent / "data"
REPO = DATA.parent.parent
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def use_ivr(stack, at: dt.datetime | None = None):
    handler = stack.services["ivr_handler"]
    handler.clock = (lambda: at) if at else (lambda: dt.datetime.now(dt.timezone.utc))
    stack.use(handler)
    return handler


async def call(stack, **kw):
    kw.setdefault("answer_prompts", True)
    kw.setdefault("hold", 60)
    kw.setdefault("timeout", 90)
    result = await place_call(stack.ami, **kw)
    record = await stack.services["calls"].get(result.ivr_uniqueid)
    return result, record


@pytest.fixture
async def nodes_tree(fresh):
    version = await publish(fresh, parse_file(DATA / "ivr" / "e2e_nodes.yaml").data, "e2e nodes")
    use_ivr(fresh)
    return version


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> str:
    """Three seconds of speech at 8 kHz for the caller to say."""
    import subprocess
    out = tmp_path_factory.mktemp("say") / "say.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(out.with_suffix(".raw.wav")),
                    "我家楼下的路灯坏了三天了，请尽快派人维修。"], check=True)
    subprocess.run(["sox", str(out.with_suffix(".raw.wav")), "-r", "8000", "-c", "1", "-b", "16", str(out)],
                   check=True)
    return str(out.with_suffix(""))


async def test_every_node_type_on_live_calls(nodes_tree, fresh, speech_wav):
    cases = {
        # name: (call kwargs, expected path, expected end reason)
        "collect": (dict(keys="1,12345#,1"), ["start", "hi", "menu", "ticket", "general_q", "survey", "bye"], "hangup"),
        "describe": (dict(keys="3", wav=speech_wav), ["start", "hi", "menu", "message", "bye"], "hangup"),
        "transfer": (dict(keys="9"), ["start", "hi", "menu", "tax"], "transferred"),
        "timeouts": (dict(keys=",,2"), ["start", "hi", "menu", "general_q", "survey", "bye"], "hangup"),
        "invalid": (dict(keys="5,5"), ["start", "hi", "menu", "bye"], "hangup"),
        "list": (dict(caller="13800001001"), ["start", "vip_q", "survey", "bye"], "hangup"),
        "schedule": (dict(did="12345009"), ["start", "hours", "closed_bye"], "hangup"),
        "hangup_mid_menu": (dict(hangup_at_prompt=1), ["start", "hi", "menu"], "caller_hangup"),
    }
    results = await asyncio.gather(*(call(fresh, **kw) for kw, _, _ in cases.values()))
    for (name, (_, path, reason)), (result, record) in zip(cases.items(), results):
        assert result.completed, name
        assert not result.fallback, name
        assert record["version"] == str(nodes_tree), name
        assert record["path"] == path, (name, record["path"])
        assert record["end_reason"] == reason, (name, record)
    by_name = dict(zip(cases, results))
    assert by_name["collect"][1]["vars"] == {"ticket_no": "12345", "rating": "1"}
    assert by_name["timeouts"][1]["vars"] == {"rating": "2"}
    assert by_name["list"][1]["outcome"] == {"type": "queue", "lane": "deputy"}
    # Queued calls were answered by a (demo) seat before the survey.
    for name in ("collect", "timeouts", "list"):
        assert by_name[name][1].get("answered") and by_name[name][1]["seat"], name
        assert Path(by_name[name][1]["recording"]).exists(), name        # MixMonitor recorded it
    assert by_name["transfer"][1]["outcome"] == {"type": "transfer", "number": "12366", "mode": "blind"}
    assert by_name["transfer"][1]["transfer"] == "12366:ANSWER"
    assert [e.get("Number") for e in by_name["transfer"][0].user_events("HotlineExternal")] == ["12366"]
    # The caller's account was recorded, with the speech in it.
    recording = Path(by_name["describe"][1]["describe_recording"])
    with wave.open(str(recording)) as w:
        assert w.getnframes() / w.getframerate() > 1.5


async def test_default_tree_main_paths(fresh):
    await publish(fresh, parse_file(REPO / "config" / "ivr" / "zhuzhou.yaml").data, "default tree")
    monday_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    use_ivr(fresh, monday_10)
    office = await asyncio.gather(                 # the last key of each answers the survey
        call(fresh, keys="2,1"),
        call(fresh, keys=",1"),
        call(fresh, keys="0,2"),
        call(fresh, keys="1", caller="13800001001"),
        call(fresh, keys="3", did="12345001", caller="13900000000"),
    )
    outcomes = [rec["outcome"] for _, rec in office]
    assert outcomes == [{"type": "queue", "lane": "enterprise"}, {"type": "queue", "lane": "general"},
                        {"type": "queue", "lane": "general"}, {"type": "queue", "lane": "deputy"},
                        {"type": "queue", "lane": "deputy"}]
    assert office[0][1]["path"][:5] == ["start", "welcome", "menu", "ent_hours", "enterprise_q"]
    assert office[3][1]["path"][:2] == ["start", "deputy_q"]        # deputies hear no menu
    # Four demo seats answer; then each caller rates the call.
    assert [rec["path"][-2:] for _, rec in office] == [["survey", "bye"]] * 5
    assert [rec["vars"].get("rating") for _, rec in office] == ["1", "1", "2", "1", "3"]
    sunday = dt.datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
    use_ivr(fresh, sunday)
    (_, rec), = await asyncio.gather(call(fresh, keys="2,1"))
    assert rec["outcome"] == {"type": "queue", "lane": "general"}
    assert rec["path"][:5] == ["start", "welcome", "menu", "ent_hours", "general_q"]


async def _calls_in_ivr(stack) -> list[dict]:
    out = []
    async for key in stack.redis.scan_iter("hotline:calllog:*"):
        rec = await stack.services["calls"].get(key.rsplit(":", 1)[1])
        if rec and rec.get("status") == "ivr":
            out.append(rec)
    return out


async def test_publish_during_call_keeps_the_pinned_version(fresh):
    doc = parse_file(DATA / "ivr" / "e2e_nodes.yaml").data
    v1 = await publish(fresh, doc, "v1")
    use_ivr(fresh)
    changed = copy.deepcopy(doc)
    changed["nodes"]["menu"]["options"].update({"1": "bye", "7": "ticket"})   # key 1 now ends the call
    changed["nodes"]["menu"]["prompt"] = {"text": "新菜单。"}

    first = asyncio.ensure_future(call(fresh, keys="1,12345#,1"))
    for _ in range(100):                                       # the first call has entered the tree...
        live = await _calls_in_ivr(fresh)
        if live:
            break
        await asyncio.sleep(0.05)
    assert live and live[0]["version"] == str(v1)
    assert "menu" not in live[0]["path"]                      # ...and has not reached the menu yet
    v2 = await publish(fresh, changed, "v2: key 1 hangs up")
    assert v2 == v1 + 1
    r2, rec2 = await call(fresh, keys="1")
    r1, rec1 = await first
    assert rec1["version"] == str(v1) and rec1["path"][:4] == ["start", "hi", "menu", "ticket"]
    assert rec2["version"] == str(v2) and rec2["path"] == ["start", "hi", "menu", "bye"]


@pytest.fixture(scope="module")
def korean_wav(tmp_path_factory) -> str:
    """Speech the test model (Korean) can recognise, at 8 kHz as a phone line carries it."""
    import subprocess
    out = tmp_path_factory.mktemp("say") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", str(out.with_suffix(".raw.wav")),
                    "안녕하세요 우리 집 앞 가로등이 고장 났어요"], check=True)
    subprocess.run(["sox", str(out.with_suffix(".raw.wav")), "-r", "8000", "-c", "1", "-b", "16", str(out)],
                   check=True)
    return str(out.with_suffix(""))


async def test_caller_account_becomes_a_draft_ticket(nodes_tree, fresh, korean_wav):
    """Record -> STT worker pool (real vosk) -> extraction -> draft ticket on the call."""
    if fresh.services.get("stt") is None:
        pytest.skip("no vosk model installed")
    result, record = await call(fresh, keys="3", wav=korean_wav)
    assert record["path"] == ["start", "hi", "menu", "message", "bye"]
    for _ in range(100):                          # transcription runs in the background
        record = await fresh.services["calls"].get(result.ivr_uniqueid)
        if record.get("ticket"):
            break
        await asyncio.sleep(0.2)
    assert record.get("ticket"), record
    # The Korean test model does not always make words of synthetic speech: the recording must have
    # gone through vosk (the transcript field is written only after the pool answered), text or not.
    assert "transcript" in record and isinstance(record.get("transcript_finals", []), list)
    starts = [f["start"] for f in record.get("transcript_finals") or []]
    assert starts == sorted(starts)
    ticket = await fresh.services["tickets"].get(record["ticket"])
    assert ticket.call_id == result.ivr_uniqueid
    assert ticket.status == "draft"
