"""Repeat callers: the pure assessment, and linking on a real Redis when drafts are created."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tickets.extract import extract
from tickets.repeat import RepeatPolicy, assess, same_category, similarity
from tickets.rules import load_rules
from tickets.store import TicketStore

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
DAY = 86400
NOISE_1 = "我 要 投诉 荷塘区 月塘 街道 一个 烧烤店 每天 晚上 吵 到 凌晨 两三点 睡 不 着"
NOISE_2 = "又 是 那个 烧烤店 晚上 还是 吵 到 凌晨 两三点 上次 反映 了 没 人 管 荷塘区 月塘 这边"
NOISE_ELSEWHERE = "我 要 投诉 醴陵 这边 有 家 KTV 半夜 唱歌 噪音 太 大"
SOCIAL = "我 想 问 一下 社保 卡 怎么 补办 我 在 醴陵"


def fields(category, district=None, summary=None):
    return {"category": category, "district": district, "summary": summary}


def test_similarity_is_bigram_jaccard():
    assert similarity("烧烤店太吵", "烧烤店 太 吵！") == 1.0
    assert similarity("烧烤店太吵", "社保卡补办") == 0.0
    assert similarity("", "烧烤店") == 0.0
    assert similarity("abcd", "abce") == pytest.approx(2 / 4)          # ab bc cd / ab bc ce


def test_same_category_levels():
    assert same_category(["城市管理", "噪音扰民"], ["城市管理", "噪音扰民"])
    assert same_category(["城市管理"], ["城市管理", "噪音扰民"])         # a level 2 on one side only
    assert not same_category(["城市管理", "噪音扰民"], ["城市管理", "占道经营"])
    assert not same_category(["城市管理"], ["环境保护"])
    assert not same_category(["其他咨询"], ["其他咨询"], frozenset({"其他咨询"}))
    assert not same_category(None, ["城市管理"])


def test_assess_rules():
    new = fields(["城市管理", "噪音扰民"], "荷塘区", "来电投诉：月塘街道烧烤店每天晚上吵到凌晨。")
    previous = [
        ("t5", fields(["城市管理", "噪音扰民"], "醴陵市", "来电投诉：KTV半夜唱歌。")),          # other place
        ("t4", fields(["公共服务", "停水停电"], "石峰区", "来电反映：月塘街道烧烤店每天晚上吵到凌晨两点。")),
        ("t3", fields(["城市管理", "噪音扰民"], "荷塘区", "来电投诉：工地夜里施工。")),
        ("t2", fields(["其他咨询"], "荷塘区", "来电咨询：办证。")),
    ]
    check = assess(new, previous, RepeatPolicy(text_threshold=0.5))
    assert check.linked == ("t5", "t4", "t3", "t2")
    assert [m.ticket_id for m in check.matches] == ["t4", "t3"]
    assert check.matches[0].reasons == ("similar text",) and check.matches[0].similarity >= 0.5
    assert check.matches[1].reasons == ("same category", "same district")
    assert check.likely_repeat_of == "t4"                                # the newest match
    assert assess(new, previous, RepeatPolicy(max_links=2)).linked == ("t5", "t4")
    assert assess(new, []).likely_repeat_of is None


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def store(redis_client, rules):
    return TicketStore(redis_client, rules=rules, clock=lambda: T0)


async def test_new_draft_links_recent_tickets_and_flags_the_repeat(store):
    old = await store.create_draft("c0", "13800001234", NOISE_1, received_at=T0 - 40 * DAY)
    first = await store.create_draft("c1", "13800001234", NOISE_1, received_at=T0 - 10 * DAY)
    social = await store.create_draft("c2", "+8613800001234", SOCIAL, received_at=T0 - 5 * DAY)
    await store.create_draft("c3", "13900009999", NOISE_1, received_at=T0 - 2 * DAY)     # someone else
    new = await store.create_draft("c4", "13800001234", NOISE_2)
    assert new.repeat.linked == (social.id, first.id)                  # newest first, 40 days ago left out
    assert new.repeat.likely_repeat_of == first.id
    assert "same category" in new.repeat.matches[0].reasons
    assert old.id not in new.to_dict()["linked"]
    stranger = await store.create_draft("c5", "13700000000", NOISE_2)
    assert stranger.repeat.linked == () and stranger.repeat.likely_repeat_of is None


async def test_window_is_configurable(redis_client, rules):
    store = TicketStore(redis_client, rules=rules, clock=lambda: T0, repeat=RepeatPolicy(within_days=7))
    await store.create_draft("c1", "13800001234", NOISE_1, received_at=T0 - 10 * DAY)
    social = await store.create_draft("c2", "13800001234", SOCIAL, received_at=T0 - 5 * DAY)
    new = await store.create_draft("c4", "13800001234", NOISE_2)
    assert new.repeat.linked == (social.id,) and new.repeat.likely_repeat_of is None


async def test_repeat_follows_the_live_transcript_and_confirmed_fields(store, redis_client):
    first = await store.create_draft("c1", "13800001234", NOISE_ELSEWHERE, received_at=T0 - 3 * DAY)
    await store.confirm(first.id, "op07", {"district": "荷塘区"})         # the operator corrected the place
    new = await store.create_draft("c2", "13800001234", "喂 你好")
    assert new.repeat.linked == (first.id,) and new.repeat.likely_repeat_of is None
    new = await store.update_transcript(new.id, "我 要 投诉 荷塘区 宋家桥 有 家 KTV 半夜 唱歌 噪音 太 大")
    assert new.repeat.likely_repeat_of == first.id                      # matched on the confirmed district
    assert (await store.get(new.id)).repeat == new.repeat
    done = await store.confirm(new.id, "op07", {"repeat_of": first.id})
    assert done.confirmed["repeat_of"] == first.id
    order = json.loads(await redis_client.hget(store.keys.ticket(new.id), "work_order"))
    assert order["repeat_of"] == first.id and order["linked_tickets"] == [first.id]


def test_default_threshold_catches_a_retold_matter_but_not_other_calls(rules):
    first = extract(NOISE_1, rules).to_dict()
    retold = dict(extract(NOISE_2, rules).to_dict(), category=["环境保护"], district=None)   # text alone
    assert assess(retold, [("t1", first)]).likely_repeat_of == "t1"
    cases = Path(__file__).resolve().parent.parent / "data" / "tickets_eval.jsonl"
    others = [extract(json.loads(line)["transcript"], rules).to_dict()
              for line in cases.read_text(encoding="utf-8").splitlines()[:60]]
    previous = [(f"o{i}", dict(d, category=None)) for i, d in enumerate(others)]    # text only
    flagged = [assess(dict(d, category=None), previous[:i] + previous[i + 1:]).likely_repeat_of
               for i, d in enumerate(others)]
    assert flagged == [None] * len(others)                  # unrelated calls are not repeats
