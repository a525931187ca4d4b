"""Speaker turns, two-speaker extraction, corrections, read-backs and words not taken at face value."""
from __future__ import annotations

import pytest

from tickets.extract import extract
from tickets.rules import load_rules
from tickets.turns import CALLER, OPERATOR, render, split_turns


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def rx(text, rules):
    return extract(text, rules, model=None)


def test_labels_full_and_half_width_colons_and_spaced():
    d = split_turns("话务员：您好\n来电人: 我要投诉\n坐 席 ：请讲\n市民：好的。客服：再见")
    assert [(t.speaker, t.text) for t in d.turns] == [
        (OPERATOR, "您好"), (CALLER, "我要投诉"), (OPERATOR, "请讲"), (CALLER, "好的。"), (OPERATOR, "再见")]
    assert d.caller_text == "我要投诉\n好的。"
    assert split_turns("我家停电了").labelled is False


def test_structured_turns_render_and_extract(rules):
    turns = [{"speaker": "operator", "text": "请问有什么可以帮您"},
             {"speaker": "caller", "text": "我 要 投诉 芦淞区 建宁 街道 的 物业 不 管 事"}]
    assert render(turns).startswith("话务员：请问有什么可以帮您\n来电人：")
    d = rx(turns, rules)
    assert d.appeal_type == "投诉" and d.category[0] == "住房与城乡建设" and d.district == "芦淞区"


def test_label_laidian_is_not_power_restored(rules):
    d = rx("话务员：您好，请问有什么可以帮您？\n来电人：我要投诉，荷塘区有人在小区门口打麻将赌博，天天聚众。", rules)
    assert d.category[0] == "社会治安与综合治理"
    assert d.appeal_type != "咨询"


def test_operator_read_back_rejected_and_corrected(rules):
    text = ("话务员：请问您的联系电话？\n来电人：幺 三 八 零 七 三 三 幺 二 三 四\n"
            "话务员：您的电话是13807331234对吗？\n来电人：对\n话务员：好的")
    assert rx(text, rules).callback_number == "13807331234"
    text2 = "来电人：电话 幺 三 八 零 七 三 三 幺 二 三 四，说错了，是 四 三"
    assert rx(text2, rules).callback_number == "13807331243"
    text3 = ("话务员：您的号码是13807331234吗？\n来电人：不对，是 幺 三 八 零 七 三 三 幺 二 四 三")
    assert rx(text3, rules).callback_number == "13807331243"


def test_third_party_number_and_chosen_number(rules):
    d = rx("我 被 骗 了 骗子 的 号码 是 幺 七 零 零 零 零 零 一 二 三 四 我 的 电话 是 一 三 九 零 七 三 三 五 五 六 六", rules)
    assert d.callback_number == "13907335566"
    d = rx("我 手机 一 三 九 零 七 三 三 五 五 六 六 家里 座机 二 二 八 八 一 二 三 四 您 打 我 座机 就 行", rules)
    assert d.callback_number == "0731-22881234"
    assert d.emergency is None and d.urgency != "特急"


@pytest.mark.parametrize("text", [
    "我 想 表扬 一下 消防 队员 上次 我们 家 着火 了 他们 来得 很快",
    "我们 小区 没有 着火 就是 想 问 一下 消防 通道 被 车 堵住 了 谁 管",
    "万一 着火 了 这个 消防 通道 都 被 堵 死 了 我 想 反映 一下",
    "新闻 里 说 有人 打架 我 想 咨询 一下 社保 怎么 交",
])
def test_past_hypothetical_negated_or_reported_cues_do_not_raise(rules, text):
    d = rx(text, rules)
    assert d.emergency is None and d.urgency != "特急", d.evidence


@pytest.mark.parametrize("text,kind", [
    ("快点 有个 人 站在 楼顶 边上 好像 要 跳 下来 在 荷塘区", "110"),
    ("我们 楼道 里 好大 一股 煤气 的 味道 不知道 哪家 的", "119"),
    ("电梯 卡住 了 里面 有 三个 人 出不来", "119"),
    ("后山 上 着火 了 烧起来 好大 一片", "119"),
])
def test_emergencies_in_other_words(rules, text, kind):
    d = rx(text, rules)
    assert d.emergency == kind and d.urgency == "特急"
    assert d.alert and d.alert["emergency"] == kind


def test_names_split_by_the_recogniser_and_bare_cues(rules):
    assert rx("我 叫 王 小明 我 要 投诉", rules).caller_name == "王小明"
    assert rx("来电人：姓李，木子李\n话务员：好的", rules).caller_name == "李"
    assert rx("话务员：好的张女士，您说\n来电人：我们小区停水了", rules).caller_name == "张"


def test_place_of_the_problem_beats_where_the_caller_lives(rules):
    d = rx("我 家 住 在 天元区 但是 我 在 醴陵 市 阳三石 街道 那边 的 工地 干活 工资 被 拖 了 两 个 月 醴陵 市 这个 工地", rules)
    assert d.district == "醴陵市"
