"""The ticket store on a real Redis: drafts, live transcript, confirmation, indexes, export, persistence."""
from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from devstack.procs import RedisServer
from tickets.confirm import ConfirmError
from tickets.extract import extract
from tickets.model import DraftTicket
from tickets.rules import load_rules
from tickets.store import TicketNotFound, TicketStateError, TicketStore, normalize_caller

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=SH).timestamp()
CALL = ("喂 你好 呃 我 是 鹿松区 建宁 街道 那边 一个 小区 的 业主 我们 那个 物业 就是 收 了 物业费 "
        "什么 都 不 管 楼道 里 的 灯 坏 了 两个 月 了 也 没 人 修 我 要 投诉 他们 "
        "我 姓 刘 电话 是 幺 三 九 七 三 三 幺 五 六 八 八 谢谢")
NO_PLACE = "喂 你好 我 要 投诉 我们 小区 的 物业 收 了 钱 不 管 事"


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(redis_client, rules, clock):
    return TicketStore(redis_client, rules=rules, clock=clock)


async def test_draft_from_transcript_ids_and_indexes(store, redis_client, rules):
    t = await store.create_draft("call-1", "+86 138-0000-1234", CALL, seat="s01", recording="rec/call-1.wav")
    assert t.id == "ZZ12345-20250303-000001"
    assert (t.status, t.caller, t.seat, t.channel, t.received_at) == ("draft", "13800001234", "s01", "phone", T0)
    assert t.draft == extract(CALL, rules).to_dict()          # kept exactly as extracted
    assert t.draft["district"] == "芦淞区" and t.draft["callback_number"] == "13973315688"
    assert t.transcript == CALL
    assert await store.get(t.id) == t
    t2 = await store.create_draft("call-2", "0731-22334455", NO_PLACE)
    assert t2.id == "ZZ12345-20250303-000002"
    assert t2.draft["callback_number"] == "073122334455"       # caller id when none was said
    assert t2.draft["confidence"]["callback_number"] == 0.5
    assert [x.id for x in await store.list_by_day("2025-03-03")] == [t.id, t2.id]
    assert await store.get_by_call("call-2") == t2
    # the caller index is not keyed by the number itself
    assert not [k async for k in redis_client.scan_iter("*13800001234*")]


async def test_ticket_day_is_local_and_sequence_per_day(store):
    late = datetime(2025, 3, 3, 23, 59, tzinfo=SH).timestamp()
    a = await store.create_draft("c-a", "13800001234", NO_PLACE, received_at=late)
    b = await store.create_draft("c-b", "13800001234", NO_PLACE, received_at=late + 120)   # 00:01 next day
    assert a.id == "ZZ12345-20250303-000001" and b.id == "ZZ12345-20250304-000001"
    assert b.to_dict()["received_at"] == "2025-03-04T00:01:00+08:00"


async def test_one_draft_per_call_even_when_raced(store):
    first = await store.create_draft("call-x", "13800001234", CALL)
    again = await store.create_draft("call-x", "13800001234", "别的 话")
    assert again == first
    raced = await asyncio.gather(*(store.create_draft("call-y", "13800001234", NO_PLACE) for _ in range(8)))
    assert len({t.id for t in raced}) == 1
    assert len(await store.list_by_caller("13800001234")) == 2


async def test_draft_from_a_ready_draft(store):
    draft = DraftTicket(appeal_type="咨询", category=("其他咨询",), urgency="一般", transcript="你好",
                        confidence={"appeal_type": 0.9})
    t = await store.create_draft("call-d", "13900002222", draft)
    assert t.draft == draft.with_default_callback("13900002222").to_dict()
    assert t.transcript == "你好"


async def test_live_transcript_re_extracts_while_draft(store, clock):
    t = await store.create_draft("call-1", "13800001234", NO_PLACE)
    assert t.draft["district"] is None
    clock.t += 5
    t = await store.update_transcript(t.id, "我 在 荷塘区 月塘 街道 那边")
    assert t.transcript == NO_PLACE + "\n我 在 荷塘区 月塘 街道 那边"
    assert (t.draft["district"], t.draft["district_code"]) == ("荷塘区", "430202")
    assert await store.get(t.id) == t
    assert (await store.update_transcript(t.id, "   ")).transcript == t.transcript
    confirmed = await store.confirm(t.id, "op07", {})
    after = await store.update_transcript(t.id, "我 是 芦淞区 的")        # the call goes on
    assert after.transcript.endswith("我 是 芦淞区 的")
    assert after.draft == confirmed.draft and after.status == "confirmed"   # no re-extraction once confirmed


async def test_concurrent_transcript_updates_lose_nothing(store):
    t = await store.create_draft("call-1", "13800001234", "开始")
    parts = [f"第 {i} 句" for i in range(15)]
    await asyncio.gather(*(store.update_transcript(t.id, p) for p in parts))
    lines = (await store.get(t.id)).transcript.split("\n")
    assert lines[0] == "开始" and sorted(lines[1:]) == sorted(parts)


async def test_confirm_keeps_corrections_and_queues(store, redis_client, clock):
    t = await store.create_draft("call-1", "13800001234", CALL)
    clock.t += 60
    c = await store.confirm(t.id, "op07", {
        "district": "荷塘区", "caller_name": "刘", "urgency": "紧急", "confidential": True,
        "people_count": 12, "caller_type": "citizen"})
    assert c.status == "confirmed" and c.confidential
    assert (c.confirmed_by, c.confirmed_at) == ("op07", T0 + 60)
    assert c.confirmed["district"] == "荷塘区" and c.confirmed["district_code"] == "430202"  # code follows
    assert c.confirmed["people_count"] == 12
    assert c.confirmed["category"] == ["住房与城乡建设", "物业管理"]              # accepted as extracted
    assert c.corrections == {
        "district": {"extracted": "芦淞区", "confirmed": "荷塘区"},
        "district_code": {"extracted": "430203", "confirmed": "430202"},
        "urgency": {"extracted": "一般", "confirmed": "紧急"},
    }
    assert c.draft == t.draft                                                  # extraction kept beside
    assert await store.get(t.id) == c
    entries = await redis_client.xrange(store.keys.outbox)
    assert [e[1] for e in entries] == [{"ticket": t.id}]
    order = json.loads(await redis_client.hget(store.keys.ticket(t.id), "work_order"))
    assert order["ticket_id"] == t.id and order["district"] == "荷塘区" and order["confidential"] is True
    assert order["caller_number"] == "13800001234" and order["confirmed_by"] == "op07"
    with pytest.raises(TicketStateError) as err:
        await store.confirm(t.id, "op08", {})
    assert err.value.error_id == "tickets.wrong_status"
    assert await redis_client.xlen(store.keys.outbox) == 1


async def test_confirm_refuses_bad_fields_and_queues_nothing(store, redis_client):
    t = await store.create_draft("call-1", "13800001234", CALL)
    with pytest.raises(ConfirmError) as err:
        await store.confirm(t.id, "op07", {"urgency": "很急", "district": "长沙区", "category": ["不存在"],
                                          "callback_number": "12ab", "colour": "red", "people_count": -1})
    fields = sorted(p["field"] for p in err.value.details["problems"])
    assert fields == ["callback_number", "category", "colour", "district", "people_count", "urgency"]
    assert (await store.get(t.id)).status == "draft"
    assert await redis_client.xlen(store.keys.outbox) == 0
    with pytest.raises(TicketNotFound):
        await store.confirm("ZZ12345-20250303-999999", "op07", {})
    with pytest.raises(TicketNotFound):
        await store.update_transcript("nope", "x")


async def test_concurrent_confirms_queue_once(store, redis_client):
    t = await store.create_draft("call-1", "13800001234", CALL)
    results = await asyncio.gather(*(store.confirm(t.id, f"op{i}", {}) for i in range(6)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, TicketStateError) for r in results if isinstance(r, Exception))
    assert await redis_client.xlen(store.keys.outbox) == 1


async def test_list_by_caller_window_and_number_forms(store):
    day = 86400
    old = await store.create_draft("c1", "13800001234", NO_PLACE, received_at=T0 - 40 * day)
    mid = await store.create_draft("c2", "008613800001234", NO_PLACE, received_at=T0 - 10 * day)
    new = await store.create_draft("c3", "013800001234", NO_PLACE, received_at=T0 - day)
    await store.create_draft("c4", "13900009999", NO_PLACE, received_at=T0 - day)
    assert [t.id for t in await store.list_by_caller("+8613800001234")] == [new.id, mid.id]
    assert [t.id for t in await store.list_by_caller("13800001234", 60)] == [new.id, mid.id, old.id]
    assert await store.list_by_caller("anonymous") == []
    anon = await store.create_draft("c5", "anonymous", NO_PLACE)
    assert anon.caller is None and anon.draft["callback_number"] is None


def test_normalize_caller():
    assert normalize_caller("+86 138 0000 1234") == "13800001234"
    assert normalize_caller("013800001234") == "13800001234"
    assert normalize_caller("0731-22334455") == "073122334455"
    assert normalize_caller("") is None and normalize_caller("Anonymous") is None


async def test_export_jsonl_day_range_and_masking(store):
    day = 86400
    a = await store.create_draft("c1", "13800001234", CALL, received_at=T0 - day)
    b = await store.create_draft("c2", "13900002222", CALL, received_at=T0)
    await store.create_draft("c3", "13900002222", CALL, received_at=T0 + 2 * day)
    await store.confirm(b.id, "op07", {"confidential": True})
    out = io.StringIO()
    assert await store.export_jsonl(out, "2025-03-02", "2025-03-03") == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == [a.id, b.id]
    assert rows[0]["caller"] == "13800001234" and rows[0]["transcript"] == CALL
    assert rows[1]["caller"] == "139****2222" and rows[1]["transcript"] is None     # confidential
    assert rows[1]["confirmed"]["callback_number"] == "139****5688"
    assert rows[1]["confirmed"]["caller_name"] == "刘"          # one character: nothing to mask after it
    masked = io.StringIO()
    assert await store.export_jsonl(masked, "20250302", mask=True) == 1
    text = masked.getvalue()
    assert "13800001234" not in text and "13973315688" not in text and "138****1234" in text
    revealed = io.StringIO()
    await store.export_jsonl(revealed, "2025-03-03", reveal_confidential=True)
    assert json.loads(revealed.getvalue())["caller"] == "13900002222"


async def test_tickets_survive_a_redis_restart(tmp_path, rules):
    server = RedisServer(tmp_path)
    server.start()
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        store = TicketStore(client, rules=rules, clock=Clock())
        t = await store.create_draft("call-1", "13800001234", CALL)
        c = await store.confirm(t.id, "op07", {"urgency": "紧急"})
        await client.aclose()
        server.restart()
        client = aioredis.from_url(server.url, decode_responses=True)
        store = TicketStore(client, rules=rules, clock=Clock())
        for _ in range(50):                      # the AOF is loading
            try:
                assert await store.get(t.id) == c
                break
            except Exception:                    # noqa: BLE001 - BusyLoadingError until loaded
                await asyncio.sleep(0.1)
        assert await store.get(t.id) == c
        assert await client.xlen(store.keys.outbox) == 1
        n = await store.create_draft("call-2", "13800001234", NO_PLACE)
        assert n.id.endswith("-000002")         # the day's sequence went on
        await client.aclose()
    finally:
        server.stop()


async def test_seat_and_recording_known_later(store, redis_client):
    t = await store.create_draft("call-1", "13800001234", CALL)
    assert (t.seat, t.recording) == (None, None)
    t = await store.update_call_info(t.id, seat="s07")
    assert (t.seat, t.recording) == ("s07", None)
    await store.confirm(t.id, "op07", {})
    order = json.loads(await redis_client.hget(store.keys.ticket(t.id), "work_order"))
    assert order["seat"] == "s07" and order["recording"] is None
    t = await store.update_call_info(t.id, recording="recordings/2025/03/03/call-1.wav")
    assert t.recording.endswith("call-1.wav") and t.seat == "s07"
    with pytest.raises(TicketNotFound):
        await store.update_call_info("ZZ12345-20250303-999999", seat="s01")


async def test_district_code_must_match_and_events_carry_no_personal_data(store, redis_client):
    t = await store.create_draft("call-1", "13800001234", CALL)
    with pytest.raises(ConfirmError) as err:
        await store.confirm(t.id, "op07", {"district": "荷塘区", "district_code": "430203"})
    assert [p["field"] for p in err.value.details["problems"]] == ["district_code"]
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(store.keys.events)
    await pubsub.get_message(timeout=1)                                # the subscribe confirmation
    await store.confirm(t.id, "op07", {"district": None})
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert json.loads(message["data"]) == {"event": "confirmed", "ticket": t.id, "status": "confirmed"}
    c = await store.get(t.id)
    assert c.confirmed["district"] is None and c.confirmed["district_code"] is None
    assert c.corrections["district"] == {"extracted": "芦淞区", "confirmed": None}


async def test_live_turns_drive_the_draft_and_an_alert_goes_out_once(store):
    from recordings.live import LiveCall, LiveTranscriber

    events = []

    async def publish(ev):
        events.append(ev.to_dict())

    live = LiveTranscriber(None, publish, None, store)
    call = LiveCall("call-em", "uid-em")
    await store.create_draft("call-em", "13800001234", "我 在 天元区 泰山路 街道")   # the account before answer
    await live._ticket(call, "您好 请问 有 什么 可以 帮 您", {"speaker": "operator", "text": "您好 请问 有 什么 可以 帮 您"})
    assert not [e for e in events if e["type"] == "emergency_alert"]
    said = "快 来人 我们 楼道 里 一股 煤气 的 味道 越来越 浓"
    await live._ticket(call, said, {"speaker": "caller", "text": said})
    await live._ticket(call, "好的 马上 处理", {"speaker": "operator", "text": "好的 马上 处理"})
    alerts = [e for e in events if e["type"] == "emergency_alert"]
    assert len(alerts) == 1 and alerts[0]["emergency"] == "119" and alerts[0]["call_id"] == "call-em"
    ticket = await store.get_by_call("call-em")
    assert ticket.draft["emergency"] == "119" and ticket.draft["urgency"] == "特急"
    assert ticket.draft["district"] == "天元区"                  # the account before answer still counts
    assert ticket.draft["appeal_type"] == "求助"                 # the operator's 请问 does not make it 咨询
    assert events.index(alerts[0]) > 0 and alerts[0]["ticket"] == ticket.id


async def test_a_burst_on_a_new_day_asks_the_records_floor_once_and_numbers_above_it(redis_client, rules, clock):
    """Redis lost its day counter (or the day just began) and 40 drafts arrive at once: the records are
    asked for the day's highest number once, not 40 times, and every id is new and above it."""
    asked: list[str] = []

    async def floor(day: str) -> int:
        asked.append(day)
        await asyncio.sleep(0.05)                  # a PostgreSQL round trip
        return 41

    store = TicketStore(redis_client, rules=rules, clock=clock, seq_floor=floor)
    await redis_client.delete(store.keys.seq("20250303"))
    drafts = await asyncio.gather(*(store.create_draft(f"burst-{i}", "13800001234", NO_PLACE) for i in range(40)))
    assert asked == ["20250303"]
    numbers = sorted(int(t.id.rsplit("-", 1)[1]) for t in drafts)
    assert numbers == list(range(42, 82))
