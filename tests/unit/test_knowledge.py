"""The knowledge base's pure part (tickets/knowledge.py): articles checked, terms from words and from
sound, validity, ranking, highlighting, import and export. No I/O (jieba reads its own dictionary)."""
from __future__ import annotations

from datetime import date

import pytest

from tickets.confirm import ConfirmError, confirmed_fields
from tickets.knowledge import (
    KnowledgeError,
    Terms,
    check_article,
    current,
    export_csv,
    export_json,
    highlight,
    hits,
    index_terms,
    parse_import,
    query_terms,
    rank,
    sounds_of,
    tsquery,
    words_of,
)

ART = {"question": "社保卡丢失了如何补办？", "answer": "携带身份证到市民中心社保窗口补办。", "keywords": ["社保卡", "补卡"]}


def test_check_article_cleans_and_lists_every_problem():
    a = check_article({**ART, "keywords": "社保卡，补卡、社保卡", "valid_from": "2026-01-01", "category": "  "})
    assert a["keywords"] == ["社保卡", "补卡"] and a["valid_from"] == date(2026, 1, 1) and a["category"] is None
    with pytest.raises(KnowledgeError) as err:
        check_article({"question": "", "answer": 3, "valid_from": "2026-02-01", "valid_until": "2026-01-01", "x": 1})
    assert {p["field"] for p in err.value.details["problems"]} == {"x", "answer", "question", "valid_until"}


def test_validity_is_inclusive_and_open_ended():
    assert current({}, date(2026, 1, 1))
    a = {"valid_from": date(2026, 1, 1), "valid_until": date(2026, 12, 31)}
    assert current(a, date(2026, 1, 1)) and current(a, date(2026, 12, 31))
    assert not current(a, date(2025, 12, 31)) and not current(a, date(2027, 1, 1))


def test_words_drop_fillers_and_keep_search_subwords():
    words = words_of("喂，你好，我想问一下医疗保险怎么报销")
    assert "医疗" in words and "保险" in words and "报销" in words
    assert not {"你好", "我想", "一下", "怎么"} & set(words)


def test_sounds_catch_recogniser_homophones_and_accents():
    # 社宝 for 社保 (same sound), 公积经 for 公积金 (in/ing), 留口 for 渌口 (liu/lu)
    assert "sebao" in sounds_of("社宝卡") and "sebao" in sounds_of("社保卡")
    assert set(sounds_of("公积经")) & set(sounds_of("公积金"))
    assert set(sounds_of("留口")) == set(sounds_of("渌口"))
    assert set(sounds_of("是不")) == set(sounds_of("四不")) and set(sounds_of("那里")) == set(sounds_of("拉里"))
    t = query_terms("您好我的社宝卡丢了")
    assert "sebao" in t.sounds and "社保卡" not in t.words


def test_query_terms_take_the_recent_end():
    t = query_terms("公积金提取" + "，" * 300 + "社保卡补办")
    assert "补办" in t.words and "公积金" not in t.words
    assert query_terms("嗯嗯，好的，谢谢").empty


def test_index_terms_weight_head_and_body():
    t = index_terms(ART)
    assert "社保卡" in t["head"] and "补办" in t["head"]
    assert "身份证" in t["body"] and not set(t["head"]) & set(t["body"])
    assert "sebao" in t["sounds"]


def test_tsquery_keeps_only_word_lexemes():
    assert tsquery(["社保", "a'b", "o r", "补办"]) == "'社保' | '补办'"
    assert tsquery([]) is None


def test_rank_drops_out_of_date_articles_and_orders_by_score():
    terms = query_terms("社保卡丢了怎么补办")
    rows = [{"id": 1, **ART, "word_rank": 0.2, "sound_rank": 0.1},
            {"id": 2, "question": "社保卡补办要钱吗", "answer": "收费20元", "keywords": [], "word_rank": 0.9,
             "valid_until": date(2020, 1, 1)},
            {"id": 3, "question": "公积金提取", "answer": "社保卡也可以", "keywords": [], "word_rank": 0.05}]
    out = rank(rows, terms, date(2026, 12, 3))
    assert [r["id"] for r in out] == [1, 3]
    assert out[0]["score"] > out[1]["score"]
    assert any(s["hit"] for s in out[0]["passage"]["question"])


def test_highlight_marks_words_and_sounds_and_cuts_a_window():
    terms = Terms(("补办",), tuple(sounds_of("社宝")), "")
    text = "一" * 200 + "请到社保窗口补办" + "二" * 200
    segs = highlight(text, terms, width=40)
    assert segs[0] == {"text": "…", "hit": False} and segs[-1] == {"text": "…", "hit": False}
    assert [s["text"] for s in segs if s["hit"]] == ["社保", "补办"]
    assert "".join(s["text"] for s in segs[1:-1]) in text
    assert hits("无关的内容", terms) == []
    assert highlight("短文本", terms) == [{"text": "短文本", "hit": False}]


def test_import_export_round_trip_and_refusals():
    arts = [{"id": 1, **ART, "category": None, "department": "市人社局", "valid_from": date(2026, 1, 1),
             "valid_until": None, "source": "文件"}]
    for fmt, text in (("json", export_json(arts)), ("csv", export_csv(arts))):
        back = parse_import(text, fmt)
        assert back[0]["id"] == 1 and back[0]["keywords"] == ["社保卡", "补卡"]
        assert back[0]["valid_from"] == date(2026, 1, 1) and back[0]["department"] == "市人社局"
    with pytest.raises(KnowledgeError) as err:
        parse_import("question,answer,color\n", "csv")
    assert "color" in err.value.details["problems"][0]["message"]
    with pytest.raises(KnowledgeError) as err:
        parse_import('[{"question": "q", "answer": "a", "id": "x"}, 3]', "json")
    assert [p["line"] for p in err.value.details["problems"]] == [1, 2]
    with pytest.raises(KnowledgeError):
        parse_import("{", "json")


def test_confirm_accepts_the_answered_on_call_resolution():
    out = confirmed_fields({}, {"resolution": "直接办结", "kb_article": 12})
    assert out["resolution"] == "直接办结" and out["kb_article"] == "12"
    assert confirmed_fields({}, {})["resolution"] is None
    with pytest.raises(ConfirmError):
        confirmed_fields({}, {"resolution": "已办结"})


def test_the_last_sentence_outweighs_what_was_said_before():
    """Two topics in one call: the one asked last comes first."""
    terms = query_terms("我想问一下公积金提取要什么材料。另外社保卡丢了怎么补办")
    assert "补办" in terms.recent_words and "公积金" not in terms.recent_words
    rows = [{"id": 1, "question": "公积金提取需要什么材料", "answer": "购房合同", "keywords": ["公积金"], "word_rank": 0.1},
            {"id": 2, "question": "社保卡丢失如何补办", "answer": "身份证", "keywords": ["社保卡"], "word_rank": 0.1}]
    assert [r["id"] for r in rank(rows, terms, date(2026, 12, 3))] == [2, 1]


def test_selective_terms_leave_out_those_in_most_articles():
    from tickets.knowledge import selective

    freq = {"荷塘区": 400, "办理": 900, "社保卡": 30, "补办": 45, "未知": 0}
    assert selective(["荷塘区", "社保卡", "办理", "补办", "未知", "新词"], freq, 1000) == ("社保卡", "补办")
    assert selective(["荷塘区", "办理"], freq, 1000) == ("荷塘区", "办理")       # none selective: the rarest
    assert selective(["未知"], freq, 1000) == ()
