"""Caller name and callback number from what the caller said."""
from __future__ import annotations

import pytest

from tickets.contacts import find_callback_number, find_caller_name
from tickets.extract import _boundaries
from tickets.normalize import normalize
from tickets.rules import load_rules


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def name_in(rules, spoken):
    norm = normalize(spoken, 5000, rules.text.fillers, rules.segment, rules.text.stutters)
    places = rules.gazetteer.find(norm.text)
    return find_caller_name(norm.text, _boundaries(norm, rules), rules.names, places)


def number_in(rules, spoken):
    norm = normalize(spoken, 5000, rules.text.fillers, rules.segment, rules.text.stutters)
    return find_callback_number(norm.text, rules.callback)


@pytest.mark.parametrize("spoken, name", [
    ("我 姓 王 住 在 荷塘区", "王"),
    ("免贵 姓 欧阳 我们 小区", "欧阳"),
    ("我 叫 王建军 我 在 石峰区", "王建军"),
    ("我 叫 陈 志 强 电话 一 五 零", "陈志强"),     # a name heard character by character
    ("我叫李建国我在厂里上班", "李建国"),             # no spaces at all
    ("你 就 叫 我 老 王 好 了", "王"),
    ("我 是 刘 女士", "刘"),
])
def test_names(rules, spoken, name):
    assert name_in(rules, spoken).value == name


@pytest.mark.parametrize("spoken", [
    "我 是 石峰区 的 居民",        # 石 is a family name, 石峰区 a place
    "我 是 高新区 的",
    "我 想 表扬 刘 老师",          # someone else
    "我们 小区 物业 不 管",
])
def test_no_names(rules, spoken):
    assert name_in(rules, spoken).value is None


def test_anonymous_caller(rules):
    found = name_in(rules, "我 举报 一下 我 不 想 留 名字")
    assert found.value is None and "anonymous" in found.reason


@pytest.mark.parametrize("spoken, number", [
    ("我 电话 是 幺 三 八 零 零 零 零 幺 二 三 四", "13800001234"),
    ("号码 一三八 零七三三 二五四六 谢谢", "13807332546"),
    ("手机 幺 八 九 七 三 三 七 八 八 两 幺", "18973378821"),
    ("我 座机 是 零 七 三 幺 二 八 八 三 四 五 六 七", "0731-28834567"),
    ("家里 电话 二 八 八 三 四 五 六 七", "0731-28834567"),
])
def test_numbers(rules, spoken, number):
    found = number_in(rules, spoken)
    assert found.value == number
    assert found.confidence >= 0.9


def test_service_numbers_are_not_callbacks(rules):
    assert number_in(rules, "我 打 了 一 二 三 四 五 也 打 了 幺 幺 零").value is None


def test_incomplete_number_says_why(rules):
    found = number_in(rules, "电话 是 幺 三 八 零 零 零 零 幺 二 三")
    assert found.value is None
    assert "10 digits" in found.reason


def test_number_near_a_cue_wins(rules):
    found = number_in(rules, "订单 号 一 二 三 四 五 六 七 八 九 零 幺 二 我 电话 幺 三 九 七 三 三 幺 五 六 八 八")
    assert found.value == "13973315688"


def test_no_number(rules):
    found = number_in(rules, "我们 小区 停水 了")
    assert found.value is None and found.reason == "no number said"
