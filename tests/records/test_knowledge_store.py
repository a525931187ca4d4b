"""The knowledge base against the real PostgreSQL: articles with their terms (migration 0010), search
by words and by sound (a recogniser's homophones), out-of-date articles never found, import and
export round trip, uses and searches in the report."""
from __future__ import annotations

from datetime import date

import pytest

from records.knowledge import KnowledgeStore
from tickets.knowledge import KnowledgeError, export_csv, export_json, parse_import

TODAY = date(2026, 12, 3)
ARTICLES = [
    {"question": "社保卡丢失了如何补办？", "answer": "携带本人身份证到市民中心社保窗口办理挂失和补卡，也可以在湘税社保APP申请补办，工本费免收。",
     "category": "人力资源社会保障", "department": "市人社局", "keywords": ["社保卡", "挂失", "补卡"],
     "source": "株人社发〔2024〕3号"},
    {"question": "公积金提取需要哪些材料？", "answer": "购房提取需购房合同、发票和身份证；租房提取需租赁备案。",
     "category": "住房与城乡建设", "department": "市住房公积金中心", "keywords": ["公积金", "提取"]},
    {"question": "2023年度居民医保缴费标准是多少？", "answer": "2023年度个人缴费380元。", "keywords": ["医保", "缴费"],
     "valid_from": "2023-01-01", "valid_until": "2023-12-31", "source": "旧政策"},
    {"question": "居民医保缴费标准是多少？", "answer": "2027年度个人缴费400元，2027年1月1日起施行。",
     "keywords": ["医保", "缴费"], "valid_from": "2027-01-01"},
]


@pytest.fixture
async def kb(pg_db):
    db, _ = pg_db
    store = KnowledgeStore(db.pool)
    for a in ARTICLES:
        await store.save(a, "admin")
    return store


async def test_words_and_sounds_find_current_articles_ranked(kb):
    terms, found = await kb.search("喂你好，我的社保卡丢了，想问一下怎么补办", TODAY)
    assert found and found[0]["question"] == "社保卡丢失了如何补办？"
    hit = [s["text"] for s in found[0]["passage"]["answer"] if s["hit"]]
    assert any("补" in h for h in hit)
    # the recogniser wrote 社宝卡 and 公积经: jieba cannot find the words, the pinyin pairs can
    _, found = await kb.search("我社宝卡掉了", TODAY)
    assert found and found[0]["question"].startswith("社保卡")
    _, found = await kb.search("公积经提取要什么", TODAY)
    assert found and found[0]["question"].startswith("公积金")


async def test_out_of_date_and_not_yet_valid_articles_are_never_suggested(kb):
    _, found = await kb.search("医保缴费标准是多少", TODAY)
    assert found == []                                  # one expired in 2023, the other starts in 2027
    _, found = await kb.search("医保缴费标准是多少", date(2027, 2, 1))
    assert [a["question"] for a in found] == ["居民医保缴费标准是多少？"]
    _, found = await kb.search("医保缴费标准是多少", date(2023, 6, 1))
    assert [a["question"] for a in found] == ["2023年度居民医保缴费标准是多少？"]


async def test_update_reindexes_and_delete(kb):
    arts = await kb.articles()
    first = arts[0]
    await kb.save({"question": "电动车上牌去哪里办？", "answer": "到车管所或指定网点登记。", "keywords": ["上牌"]},
                  "admin", first["id"])
    _, found = await kb.search("电动车上牌", TODAY)
    assert found[0]["id"] == first["id"]
    _, found = await kb.search("社保卡补办", TODAY)
    assert all(a["id"] != first["id"] for a in found)
    assert await kb.delete(first["id"]) and not await kb.delete(first["id"])


async def test_import_export_round_trip_all_or_nothing(kb):
    arts = await kb.articles()
    for fmt, text in (("json", export_json(arts)), ("csv", export_csv(arts))):
        rows = parse_import(text, fmt)
        assert len(rows) == len(ARTICLES) and all("id" in r for r in rows)
        assert await kb.import_many(rows, "admin") == {"added": 0, "updated": len(ARTICLES)}
    assert [(a["question"], a["keywords"], a["valid_until"]) for a in await kb.articles()] == \
        [(a["question"], a["keywords"], a["valid_until"]) for a in arts]
    csv_text = "question,answer,keywords\n燃气开户怎么办理？,带房产证到燃气公司营业厅。,燃气、开户\n"
    assert await kb.import_many(parse_import(csv_text, "csv"), "admin") == {"added": 1, "updated": 0}
    with pytest.raises(KnowledgeError):
        parse_import("question,answer\n只有问题,\n", "csv")
    with pytest.raises(KnowledgeError):
        await kb.import_many([{"id": 999999, "question": "q", "answer": "a"}], "admin")
    assert len(await kb.articles()) == len(ARTICLES) + 1       # the failed import changed nothing


async def test_report_counts_uses_and_searches_that_found_nothing(kb, pg_db):
    db, _ = pg_db
    art = (await kb.articles())[0]
    await kb.record_use(TODAY, "call-1", "ZZ1", art, "8001")
    await kb.record_use(TODAY, "call-1", "ZZ1", art, "8001")            # the same ticket once
    await kb.record_use(TODAY, "call-2", "ZZ2", art, "8001")
    for q in ("狗咬人了怎么办", "狗咬人了怎么办", "路灯坏了"):
        await kb.log_search(TODAY, "live", q, 0, "call-3")
    await kb.log_search(TODAY, "live", "社保卡", 1, "call-1", art["id"])
    rep = await kb.report(TODAY, TODAY)
    assert rep["answered_on_call"] == 2 and rep["share"] == 1.0
    assert rep["articles"] == [{"id": art["id"], "question": art["question"], "uses": 2}]
    assert [(n["query"], n["times"]) for n in rep["not_found"]] == [("狗咬人了怎么办", 2), ("路灯坏了", 1)]
    assert rep["searches"] == 4
