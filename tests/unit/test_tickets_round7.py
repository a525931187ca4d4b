"""General rule fixes read off tickets_fresh3.jsonl (tests/data/TICKETS.md): dialect words, a
now-word after a cue, a negation that is a verb's complement, an emergency's category, and
the cues that tell a complaint, a report and a follow-up apart. Rules only: no model."""
from __future__ import annotations

import pytest

from tickets.extract import extract


def draft(text: str):
    return extract(text, model=None)


def test_dialect_words_are_read_as_mandarin_so_the_cues_match() -> None:
    d = draft("喂 我 老 伴 讲 话 讲 不 清 楚 哒 我 们 在 荷 塘 区")   # 讲话讲不清楚 = 说话说不清楚
    assert d.emergency == "120" and d.urgency == "特急"
    assert draft("我们这条路上的井盖冇得了，一个大洞，晚上看不到。").urgency == "紧急"


def test_a_now_word_after_a_past_danger_tells_of_its_aftermath() -> None:
    over = draft("去年我老伴脑梗，是你们帮忙联系的救护车，现在她能下地走路了，我就想讲声谢谢。")
    assert over.emergency is None and over.urgency == "一般" and over.appeal_type == "表扬"
    on = draft("昨天晚上就开始冒烟，着火了现在还在烧，天元区泰山路。")
    assert on.emergency == "119"


def test_a_negation_that_is_a_verbs_complement_negates_nothing() -> None:
    d = draft("出车祸了，司机卡在里面出不来，满脸是血，炎陵县城。")
    assert d.emergency == "120"
    assert draft("我们这里没有人受伤，车子撞了一下，已经处理了。").emergency is None


@pytest.mark.parametrize("text", [
    "我闻到楼道里有股煤气味，叫燃气公司来看了，说是隔壁炒菜的油烟，冇得漏气。",
    "我看新闻说别个地方有小区的燃气管道爆炸了，我们小区的管子也老了，能不能派人来查一下。",
    "刚才闻到屋里有股怪味，后来发现是冰箱里的菜坏了，我想问一下天然气泄漏有什么特征。",
])
def test_checked_reported_or_asked_about_dangers_raise_nothing(text: str) -> None:
    assert draft(text).emergency is None


@pytest.mark.parametrize("text, kind", [
    ("他们家仓库里面噼里啪啦在响，门缝里一直冒烟，敲不开门。", "119"),
    ("我同事在车间里被机器夹到手了，血一直流，厂里的人在帮忙按着。", "120"),
    ("我孙子两岁，一颗纽扣电池不见了，我怕是吞下去了。", "120"),
    ("我妈正在银行柜台，有人打电话要她把存款转到一个安全账户。", "110"),
])
def test_oblique_emergencies_are_heard(text: str, kind: str) -> None:
    assert draft(text).emergency == kind


def test_an_emergency_ticket_is_filed_under_its_kinds_categories() -> None:
    d = draft("我们对面那栋楼四楼的窗户里往外冒黑烟，还看得到红光，里面好像有人在喊。")
    assert d.emergency == "119" and d.category and d.category[0] == "社会治安与综合治理"


@pytest.mark.parametrize("text, appeal", [
    ("我们学校每个学期收三百块的资料费还不给收据，我是家长，不敢讲名字。", "举报"),
    ("我前天反映了下水道的事，想问问转到哪个部门去了，怎么还冇人联系我。", "其他"),
    ("我冇开过么子会员，电话费每个月多扣二十块。", "投诉"),
    ("我是低保户，这个月的低保冇打到卡上，是么子原因？", "咨询"),
])
def test_appeal_cues_for_reports_follow_ups_complaints_and_questions(text: str, appeal: str) -> None:
    assert draft(text).appeal_type == appeal
