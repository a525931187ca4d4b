"""Cues by meaning rather than by one word: danger said in the caller's own words, near misses,
"call me on …" phrased with 打, praise and calls with nothing to file; names said twice; the
trie-shaped expression that matches the literal cues. Written apart from the unseen set: none of
these sentences is in it."""
from __future__ import annotations

import re

import pytest

from tickets.extract import extract
from tickets.phrases import trie_pattern
from tickets.rules import load_rules


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.mark.parametrize("spoken, emergency", [
    ("我家厨房的液化气罐在漏，满屋子臭鸡蛋味", "119"),
    ("小区门口那根电线杆倒了，线掉在地上冒火花", "119"),
    ("我外婆吃饭噎住了，脸都紫了", "120"),
    ("我老公喝醉了拿凳子砸我，我躲在房间里", "110"),
    ("有个小孩掉到河里去了", "119"),
    ("我舅舅在菜地里喷了农药，进屋就喊头晕，吐个不停", "120"),
])
def test_danger_in_other_words(rules, spoken, emergency):
    draft = extract(spoken, rules, model=None)
    assert (draft.emergency, draft.urgency) == (emergency, "特急")


@pytest.mark.parametrize("spoken", [
    "路上那个坑，刚才一个骑车的差点栽进去",
    "上个月家里着过一次火，想问问换电线找谁",
    "有结果了您打我的就行，我想问下社保卡补办",
    "要去哪里报警，车被人划了想问一下",
    "楼下冒烟，大家以为是着火了，下去一看是有人在熏腊肉",
    "我姑妈上礼拜在超市里晕倒，送医院查了，现在已经好了，想问问这个能不能报销",
    "昨晚我们单元门口有人打架，派出所已经处理了，我想说门禁老是坏",
    "厨房里有股煤气味，一查是阀门没拧紧，拧好就没事了",
])
def test_no_emergency_for_near_misses_the_past_and_call_me_on(rules, spoken):
    assert extract(spoken, rules, model=None).emergency is None


@pytest.mark.parametrize("spoken", [
    "我想感谢一下小区的电工师傅，前几天配电箱起火，他冲上去把闸拉了",
    "表扬一下消防中队，我们仓库去年失火他们来得好快",
])
def test_a_thank_you_for_a_past_danger_is_not_urgent(rules, spoken):
    draft = extract(spoken, rules, model=None)
    assert (draft.emergency, draft.urgency) == (None, "一般")


@pytest.mark.parametrize("spoken, appeal", [
    ("我就想谢谢你们，上回说的那个路灯没两天就修好了", "表扬"),
    ("不好意思，小孩拿我手机乱按的", "其他"),
    ("有人在村后头的水库里电鱼，你们去查查", "举报"),
    ("我有个想法，公园里能不能多装几个座椅", "建议"),
    ("单位不给我们交住房公积金，这个到底合不合法", "咨询"),
    ("对门老是把鞋柜摆在过道上，请居委会出面调解", "求助"),
    ("快递员说要我再付五十块才肯把包裹送上楼", "投诉"),
])
def test_appeal_from_what_the_caller_does(rules, spoken, appeal):
    assert extract(spoken, rules, model=None).appeal_type == appeal


@pytest.mark.parametrize("spoken, name", [
    ("我姓黄，黄志刚，电话13900001111", "黄志刚"),
    ("免贵姓赵，叫赵红", "赵红"),
    ("嗯 我 姓 欧阳 欧阳 明 荷塘 区 的", "欧阳明"),
    ("你好，我是彭先生，想问一下", "彭"),
    ("那个姓彭的师傅很负责，我想表扬他", None),
    ("我是天元区的一个退休工人，姓殷，想问一下", "殷"),
])
def test_names(rules, spoken, name):
    assert extract(spoken, rules, model=None).caller_name == name


def test_trie_pattern_matches_like_a_longest_first_alternation():
    words = ["拖欠", "拖欠工资", "工资", "工", "欠薪", "薪", "资料费"]
    plain = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))
    trie = re.compile(trie_pattern(words))
    for text in ("老板拖欠工资还欠薪", "工资资料费拖欠", "拖工欠资", ""):
        assert [m.group(0) for m in trie.finditer(text)] == [m.group(0) for m in plain.finditer(text)]
