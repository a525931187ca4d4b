"""ASR clean-up: joining vosk words, spoken digits, fillers, amounts."""
from __future__ import annotations

import pytest

from tickets.normalize import normalize, readable_numbers, script_profile, spoken_digits_to_ascii


@pytest.mark.parametrize("spoken, digits", [
    ("幺 三 八 零 零 零 零 幺 二 三 四", "13800001234"),
    ("一三八 零七三三 二五四六", "13807332546"),
    ("幺 八 八 洞 七 三 三 四 四 幺 九", "18807334419"),
    ("一 三 两 四 五 六 七 八 九 〇 零", "13245678900"),
    ("138 0000 1234", "13800001234"),
    ("零七三幺-二八八三四五六七", "073128834567"),
])
def test_spoken_digit_runs_become_ascii(spoken, digits):
    assert spoken_digits_to_ascii(f"电话 是 {spoken} 谢谢").split() == ["电话", "是", digits, "谢谢"]


def test_short_numbers_are_left_as_said():
    text = "等 了 两 三 个 小时 三十 多个 工人 五 六 次"
    assert spoken_digits_to_ascii(text) == text


def test_words_are_joined_and_boundaries_kept():
    norm = normalize("我 姓 王 住 在 荷塘区", 1000)
    assert norm.text == "我姓王住在荷塘区"
    assert norm.spaced
    assert {0, 1, 2, 3, 4, 5, 8} <= norm.boundaries


def test_fillers_and_stutters_dropped_but_reduplication_kept():
    norm = normalize("呃 我 我 我 那个 想 想 办法 嗯 帮 帮 我", 1000,
                     fillers=frozenset({"呃", "嗯", "那个"}), stutters=frozenset({"我"}))
    assert norm.text == "我想想办法帮帮我"


def test_latin_words_keep_a_space():
    assert normalize("楼下 有 家 KTV 很 吵", 1000).text == "楼下有家KTV很吵"
    assert normalize("买 了 个 iPhone 15 Pro", 1000).text == "买了个iPhone 15 Pro"


def test_unsegmented_text_goes_through_the_segmenter():
    calls = []

    def segment(chunk):
        calls.append(chunk)
        return ["呃", "我们", "小区", "停水"]

    norm = normalize("呃我们小区停水", 1000, fillers=frozenset({"呃"}), segment=segment)
    assert calls == ["呃我们小区停水"]
    assert norm.text == "我们小区停水" and not norm.spaced


def test_long_input_is_cut_and_flagged():
    norm = normalize("停水 " * 1000, 100)
    assert norm.truncated and norm.original_length == 3000
    assert len(norm.text) <= 100


def test_full_width_forms_are_folded():
    assert normalize("电话１３８００００１２３４", 1000).text.endswith("13800001234")


@pytest.mark.parametrize("said, written", [
    ("收了三千五块", "收了3500块"),
    ("等了二十四小时", "等了24小时"),
    ("四十多万的工钱", "40多万的工钱"),
    ("砍的都是几十年的大树", "砍的都是几十年的大树"),
    ("两三点钟", "两三点钟"),
    ("停了五六次电", "停了五六次电"),
    ("一个人", "一个人"),
])
def test_readable_numbers(said, written):
    assert readable_numbers(said) == written


@pytest.mark.parametrize("text, script", [
    ("我们小区停水了", "Chinese"),
    ("Hello, the water is off in my building", "English"),
    ("안녕하세요 아파트 소음 문제입니다", "Korean"),
    ("12345 !!!", "no letters"),
])
def test_script_profile(text, script):
    ratio, dominant = script_profile(text)
    assert dominant == script
    assert (ratio > 0.9) == (script == "Chinese")
