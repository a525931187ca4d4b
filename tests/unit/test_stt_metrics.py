"""Character error rate for Chinese transcripts."""
from __future__ import annotations

import pytest

from recordings.stt.metrics import cer, corpus_cer, edit_distance, normalize_zh


def test_normalisation_ignores_spacing_punctuation_and_numeral_forms():
    assert normalize_zh("有 困难 请 拨打 幺 幺 零 ，或者 一 八 六 零 一 二 零 零 九 零 九。") == \
        normalize_zh("有困难请拨打110或者18601200909")
    assert normalize_zh("三十五 年前 他 于 长沙 出生") == normalize_zh("35年前他于长沙出生")
    assert normalize_zh("ＡＢＣ１２３！") == "abc123"
    assert normalize_zh(" ，。 ") == ""


def test_edit_distance():
    assert edit_distance("广州市房地产", "广州市房地产") == 0
    assert edit_distance("广州市房地产", "广州房地产业") == 2
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3


def test_cer_values():
    assert cer("广州市房地产中介协会分析", "广州 市 房地产 中介 协会 分析") == 0.0
    assert cer("我认为跑步最重要", "我认为跑布最重要") == pytest.approx(1 / 8)
    assert cer("", "") == 0.0 and cer("", "多余") == 1.0
    assert corpus_cer([("一二三四", "1234"), ("你好", "你")]) == pytest.approx(1 / 6)
