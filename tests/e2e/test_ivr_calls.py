"""The IVR tree on live calls through the real Asterisk: every node type, the
default tree's main paths, and publishing while a call is in the tree."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
from pathlib import Path

import pytest

from devstack.simcall import place_call
from ivr.loader import parse_file
from recordings import audio as A
from recordings.stt.engine import VoskEngineFactory
from recordings.stt.metrics import corpus_cer, normalize_zh
from recordings.stt.models import ENV_MODEL_CN, mandarin_model_path
from recordings.stt.pool import PoolConfig, STTPool
from recordings.wavfile import load_wav
from tests.e2e.helpers import as_wav, audio_seconds, kept_account, publish

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent.parent / "data"
REPO = DATA.parent.parent
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def use_ivr(stack, at: dt.datetime | None = None):
    handler = stack.hotline.ivr.handler
    handler.clock = (lambda: at) if at else (lambda: dt.datetime.now(dt.UTC))
    stack.use(handler)
    return handler


async def call(stack, **kw):
    kw.setdefault("answer_prompts", True)
    kw.setdefault("hold", 60)
    kw.setdefault("timeout", 90)
    result = await place_call(stack.ami, **kw)
    record = await stack.hotline.ivr.calls.get(result.ivr_uniqueid)
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
    calls = fresh.hotline.ivr.calls

    async def kept(call_id: str) -> str:
        """The call's recording as kept (recordings/keep.py compresses it once the call is over)."""
        for _ in range(60):
            rec = (await calls.get(call_id)) or {}
            if rec.get("recording") and Path(rec["recording"]).exists():
                return rec["recording"]
            await asyncio.sleep(0.5)
        return ""
    for name in ("collect", "timeouts", "list"):
        assert by_name[name][1].get("answered") and by_name[name][1]["seat"], name
        assert await kept(by_name[name][1]["call_id"]), name        # MixMonitor recorded it, and it was kept
    assert by_name["transfer"][1]["outcome"] == {"type": "transfer", "number": "12366", "mode": "blind"}
    assert by_name["transfer"][1]["transfer"] == "12366:ANSWER"
    assert [e.get("Number") for e in by_name["transfer"][0].user_events("HotlineExternal")] == ["12366"]
    # The caller's account was recorded, with the speech in it.
    # (kept compressed, as the call's recording is, once speech-to-text has read it)
    account = await kept_account(calls, by_name["describe"][1]["call_id"])
    recording = Path(account["describe_recording"])
    assert recording.suffix == ".ogg" and audio_seconds(recording) > 1.5


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
        rec = await stack.hotline.ivr.calls.get(key.rsplit(":", 1)[1])
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
    """Speech the test model (Korean) recognises, at 8 kHz as a phone line carries it (a little
    silence around it, at a pace the model follows: it then makes words every time)."""
    import subprocess
    out = tmp_path_factory.mktemp("say") / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(out.with_suffix(".raw.wav")),
                    "안녕하세요 우리 집 앞 가로등이 고장 났어요"], check=True)
    subprocess.run(["sox", str(out.with_suffix(".raw.wav")), "-r", "8000", "-c", "1", "-b", "16", str(out),
                    "pad", "0.3", "0.8"], check=True)
    return str(out.with_suffix(""))


async def test_caller_account_becomes_a_draft_ticket(nodes_tree, fresh, korean_wav):
    """Record -> STT worker pool (real vosk) -> extraction -> draft ticket on the call."""
    if fresh.hotline.speech.pool is None:
        pytest.skip("no vosk model installed")
    result, record = await call(fresh, keys="3", wav=korean_wav)
    assert record["path"] == ["start", "hi", "menu", "message", "bye"]
    for _ in range(100):                          # transcription runs in the background
        record = await fresh.hotline.ivr.calls.get(result.ivr_uniqueid)
        if record.get("ticket"):
            break
        await asyncio.sleep(0.2)
    assert record.get("ticket"), record
    # What the pool itself produced from the recording: all of its audio heard...
    stats = record["transcript_stats"]
    record = await kept_account(fresh.hotline.ivr.calls, result.ivr_uniqueid)
    recorded_s = audio_seconds(record["describe_recording"])
    assert recorded_s > 2.0 and stats["heard_s"] == pytest.approx(recorded_s, abs=0.01), (stats, recorded_s)
    assert 0 < stats["engine_s"] <= stats["heard_s"] + 0.01
    # ...partial results first, a final after them, in time order...
    kinds = [k for k, _, _ in stats["results"]]
    assert kinds[0] == "partial" and kinds[-1] == "final" and stats["partials"] >= 1, kinds
    for i, kind in enumerate(kinds):
        if kind == "final" and i and kinds[i - 1] == "final":
            continue                              # the closing (empty) final after a real one
        if kind == "final":
            assert "partial" in kinds[:i], kinds
    heard = [end for kind, _, end in stats["results"] if kind == "partial"]     # how far the engine had heard
    assert heard == sorted(heard) and max(end for _, _, end in stats["results"]) <= stats["heard_s"] + 0.01
    spans = [(start, end) for kind, start, end in stats["results"] if kind == "final"]
    assert all(a[1] <= b[0] + 0.01 for a, b in zip(spans, spans[1:])), spans
    # ...and words of the caller's language, which are the call's transcript and the ticket's.
    finals = record["transcript_finals"]
    assert stats["finals"] == len(finals) >= 1
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in f["text"]) for f in finals), finals
    assert [f["start"] for f in finals] == sorted(f["start"] for f in finals)
    assert record["transcript"] == " ".join(f["text"] for f in finals)
    ticket = await fresh.hotline.tickets.store.get(record["ticket"])
    assert ticket.call_id == result.ivr_uniqueid
    assert ticket.status == "draft" and ticket.transcript == record["transcript"]


def _configured_model() -> str | None:
    from hotline.settings import load
    try:
        return load().stt.model or None
    except Exception:
        return None


SPEECH_DIR = REPO.parent / "shared" / "testdata" / "speech"
MANDARIN = mandarin_model_path(_configured_model())


@pytest.mark.skipif(MANDARIN is None, reason=f"no Mandarin model configured: set {ENV_MODEL_CN} (or stt.model) "
                                             "to e.g. vosk-model-small-cn-0.22 to report CER through a call")
async def test_mandarin_character_error_rate_through_a_call(fresh, tmp_path):
    """The shared Mandarin recordings said on real calls (describe), recorded by Asterisk, sent through
    an 8 kHz μ-law line and transcribed by the Mandarin model: CER reported."""
    import subprocess

    doc = parse_file(DATA / "ivr" / "e2e_nodes.yaml").data
    doc = copy.deepcopy(doc)
    doc["nodes"]["message"]["max_s"] = 20                 # the longest recording is 13 s
    await publish(fresh, doc, "e2e nodes, long accounts")
    use_ivr(fresh)
    rows = [line.split("\t") for line in (SPEECH_DIR / "references.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    says = []
    for row in rows:
        out = tmp_path / row[0]
        subprocess.run(["sox", str(SPEECH_DIR / row[0]), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True)
        says.append(str(out.with_suffix("")))
    calls = await asyncio.gather(*(call(fresh, keys="3", wav=w) for w in says))
    pool = STTPool(VoskEngineFactory(str(MANDARIN)), PoolConfig(workers=1, stall_timeout_s=180))
    await pool.start()
    try:
        hyps = []
        for _, record in calls:
            record = await kept_account(fresh.hotline.ivr.calls, record["call_id"], timeout=300)
            pcm = load_wav(as_wav(record["describe_recording"], tmp_path), 8000)
            hyps.append((await pool.transcribe(A.ulaw_encode(pcm), 8000, "ulaw", call_id=record.get("id", ""))).text)
    finally:
        await pool.close()
    pairs = [(row[1], hyp) for row, hyp in zip(rows, hyps)]
    total = corpus_cer(pairs)
    print(f"\nMandarin CER through calls (Asterisk recording, 8 kHz μ-law): {total:.1%} over {len(pairs)} files")
    for (ref, hyp), row in zip(pairs, rows):
        print(f"  {row[0]}: {normalize_zh(ref)} <- {normalize_zh(hyp)}")
    assert total < 0.5
