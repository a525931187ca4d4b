"""Transcript -> draft ticket: the contract, every field, and bad input."""
from __future__ import annotations

import dataclasses
import json
import time

import pytest

from tickets.extract import extract
from tickets.model import CONTRACT_KEYS, DraftTicket
from tickets.rules import load_rules

CALL = ("喂 你好 呃 我 是 鹿松区 建宁 街道 那边 一个 小区 的 业主 我们 那个 物业 就是 收 了 物业费 "
        "什么 都 不 管 楼道 里 的 灯 坏 了 两个 月 了 也 没 人 修 我 要 投诉 他们 "
        "我 姓 刘 电话 是 幺 三 九 七 三 三 幺 五 六 八 八 谢谢")


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_contract_has_exactly_the_design_keys(rules):
    contract = extract(CALL, rules).to_contract()
    assert list(contract) == list(CONTRACT_KEYS)
    json.dumps(contract)                                       # serialisable as is


def test_full_draft(rules):
    d = extract(CALL, rules)
    assert d.appeal_type == "投诉"
    assert d.category == ("住房与城乡建设", "物业管理")
    assert (d.district, d.district_code) == ("芦淞区", "430203")
    assert d.address == "芦淞区建宁街道"
    assert d.caller_name == "刘"
    assert d.callback_number == "13973315688"
    assert d.urgency == "一般" and d.emergency is None
    assert d.title == "芦淞区某小区物业管理投诉"
    assert d.transcript == CALL
    assert "鹿松区" in d.evidence["district"]
    assert "物业" in d.evidence["category"]


def test_summary_is_clean_and_short(rules):
    d = extract(CALL, rules)
    assert d.summary.startswith("来电投诉：") and d.summary.endswith("。")
    assert len(d.summary) <= 200
    for noise in ("呃", "那个", "喂", "你好", "谢谢", "13973315688", "鹿松区", " "):
        assert noise not in d.summary
    assert "芦淞区" in d.summary


def test_every_field_has_a_confidence_and_nulls_have_zero(rules):
    d = extract("我 想 问 一下 办 护照 要 去 哪里", rules)
    assert d.district is None and d.confidence["district"] == 0
    assert d.callback_number is None and d.confidence["callback_number"] == 0
    assert d.emergency is None and d.confidence["emergency"] == 0
    assert all(0 <= v <= 1 for v in d.confidence.values())
    assert any(r.startswith("district:") for r in d.reasons)


@pytest.mark.parametrize("spoken, urgency, emergency", [
    ("我们 这 栋 楼 里 好 大 一股 煤气 味", "特急", "119"),
    ("厨房 着火 了 快 来", "特急", "119"),
    ("我 被 困 在 电梯 里 了", "特急", "119"),
    ("楼下 有 人 拿 着 刀 在 砍 人", "特急", "110"),
    ("老人 摔倒 了 起 不来", "特急", "120"),
    ("墙 上 裂 了 好 大 的 缝 感觉 随时 会 塌 下来", "特急", None),
    ("我们 整栋 楼 停水 两 天 了", "紧急", None),
    ("下水道 堵 了 污水 冒 出来 流 到 马路 上", "紧急", None),
    ("五十 多个 工人 工资 没 发 马上 过年 了", "紧急", None),
    ("我 刚刚 被 人 骗 了 转 了 三 万", "紧急", "110"),
    ("楼下 烧烤 店 太 吵 了", "一般", None),
    ("没有 煤气 味 就是 想 问 一下 燃气 开户", "一般", None),       # negated
])
def test_urgency_and_emergency(rules, spoken, urgency, emergency):
    d = extract(spoken, rules)
    assert (d.urgency, d.emergency) == (urgency, emergency)
    if emergency:
        assert d.appeal_type == "求助"
        assert d.evidence["emergency"]


@pytest.mark.parametrize("spoken, appeal", [
    ("我 要 举报 有 人 在 河 里 非法 采砂", "举报"),
    ("我 想 咨询 一下 社保 怎么 转移", "咨询"),
    ("我 建议 多 开 几 趟 公交", "建议"),
    ("我 想 表扬 一下 社区 的 工作 人员", "表扬"),
    ("我 要 投诉 医生 态度 很 差", "投诉"),
    ("老板 欠 了 我 三个 月 工资 你们 帮 帮 我", "求助"),
    ("喂 喂 听 得 到 吗 信号 不 好", "其他"),
])
def test_appeal_types(rules, spoken, appeal):
    assert extract(spoken, rules).appeal_type == appeal


def test_title_is_short(rules):
    d = extract("我 是 醴陵市 孙家湾 镇 的 我们 那个 养猪场 和 陶瓷厂 还有 小区 工地 污水 排 到 河 里 我 要 举报", rules)
    assert d.title and len(d.title) <= 20


@pytest.mark.parametrize("bad", ["", "   \n\t ", None, "呃 嗯 那个"])
def test_empty_input_gives_an_empty_draft(rules, bad):
    d = extract(bad, rules)
    assert d.appeal_type is None and d.category is None and d.summary is None
    assert d.reasons
    assert list(d.to_contract()) == list(CONTRACT_KEYS)


@pytest.mark.parametrize("foreign, script", [
    ("Hello, I would like to complain about the noise from the bar downstairs.", "English"),
    ("안녕하세요 저는 아파트 소음 때문에 전화했습니다", "Korean"),
])
def test_other_languages_give_an_empty_draft_with_a_reason(rules, foreign, script):
    d = extract(foreign, rules)
    assert d.category is None and d.district is None and d.appeal_type is None
    assert d.transcript == foreign
    assert any("not Chinese" in r and script in r for r in d.reasons)


def test_eight_megabytes_is_cut_quickly(rules):
    big = ("我 要 投诉 芦淞区 小区 物业 不 管 楼道 的 灯 " * 400_000)[: 8 * 1024 * 1024]
    start = time.perf_counter()
    d = extract(big, rules)
    assert time.perf_counter() - start < 2.0
    assert d.district == "芦淞区"
    assert len(d.transcript) == rules.limits.max_chars
    assert any("cut" in r for r in d.reasons)


def test_odd_types_do_not_raise(rules):
    assert extract(b"\xe6\x88\x91\xe5\xa7\x93\xe7\x8e\x8b \xff", rules).caller_name == "王"
    assert extract(12345, rules).reasons                       # type: ignore[arg-type]


def test_draft_is_immutable_and_default_callback(rules):
    d = extract("我们 小区 停水 了", rules)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.district = "荷塘区"                                   # type: ignore[misc]
    with pytest.raises(TypeError):
        d.confidence["district"] = 1.0                          # type: ignore[index]
    filled = d.with_default_callback("13800001234")
    assert filled.callback_number == "13800001234" and filled.evidence["callback_number"] == ("caller id",)
    said = extract("电话 幺 三 九 七 三 三 幺 五 六 八 八", rules)
    assert said.with_default_callback("13800001234").callback_number == "13973315688"


def test_default_rules_are_used(rules):
    assert extract(CALL).to_contract() == extract(CALL, rules).to_contract()


def test_empty_draft_model():
    d = DraftTicket.empty("x", ["why"])
    assert d.to_dict()["reasons"] == ["why"] and d.to_dict()["evidence"] == {}


def test_throughput(rules):
    """A floor far under the measured figure (~1000+/s) so slow CI machines pass."""
    texts = [CALL, "我 要 举报 攸县 有 人 赌博", "整栋 楼 停电 了 河塘区 金山 街道"] * 100
    start = time.perf_counter()
    for t in texts:
        extract(t, rules)
    assert len(texts) / (time.perf_counter() - start) > 150
