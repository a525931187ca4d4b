"""Gazetteer: names, pinyin tolerance, district resolution and addresses."""
from __future__ import annotations

import pytest

from tickets.normalize import normalize
from tickets.places import Gazetteer
from tickets.rules import load_rules

DOMAIN_CODES = {
    "荷塘区": "430202", "芦淞区": "430203", "石峰区": "430204", "天元区": "430211", "渌口区": "430212",
    "攸县": "430223", "茶陵县": "430224", "炎陵县": "430225", "醴陵市": "430281",
}


@pytest.fixture(scope="module")
def gaz():
    return load_rules().gazetteer


def district_of(gaz, spoken):
    text = normalize(spoken, 5000).text
    return gaz.resolve(text, gaz.find(text))


def test_nine_districts_with_domain_codes(gaz):
    assert gaz.codes == DOMAIN_CODES


@pytest.mark.parametrize("spoken, district", [
    ("我 住 在 芦淞区", "芦淞区"),
    ("我 是 株洲 县 的", "渌口区"),              # the former name
    ("荷塘 这边", "荷塘区"),
    ("我 在 醴陵 打工", "醴陵市"),
])
def test_district_names_and_aliases(gaz, spoken, district):
    guess = district_of(gaz, spoken)
    assert guess.district == district
    assert guess.district_code == DOMAIN_CODES[district]
    assert guess.district_confidence > 0.5


@pytest.mark.parametrize("heard, district", [
    ("鹿松区 建宁 街道", "芦淞区"),
    ("河塘区 这边", "荷塘区"),
    ("我 是 六口区 的", "渌口区"),
    ("石风区 买 的 房子", "石峰区"),
    ("天园区 泰山 路", "天元区"),
    ("我 是 茶林县 的", "茶陵县"),
    ("在 立陵市 一 家 厂", "醴陵市"),
    ("我 是 六口 这边 的", "渌口区"),          # two syllables, but a place word follows
])
def test_recognition_errors_match_by_pinyin(gaz, heard, district):
    guess = district_of(gaz, heard)
    assert guess.district == district
    assert guess.district_evidence                  # the words as heard


@pytest.mark.parametrize("text", [
    "希望 优先 处理 一下",                         # you xian, but not 攸县
    "我 叫 李玲 是 做 生意 的",                      # li ling shi, but 是 is not 市
    "我们 都 很 有钱",
    "我 在 长沙 住院",
])
def test_no_false_places(gaz, text):
    assert district_of(gaz, text).district is None


@pytest.mark.parametrize("spoken, district", [
    ("月塘 街道 这边", "荷塘区"),
    ("神农城 旁边 的 停车场", "天元区"),
    ("炎帝陵 门口", "炎陵县"),
    ("醴陵瓷谷 那边", "醴陵市"),
    ("株洲 火车站 出站 口", "芦淞区"),
    ("株洲 北站 旁边", "石峰区"),
    ("株洲 西站", "天元区"),
    ("酒埠江 那边", "攸县"),
    ("朱亭 镇 的 河堤", "渌口区"),
    ("云阳 街道 社区", "茶陵县"),
])
def test_streets_towns_landmarks_give_the_district(gaz, spoken, district):
    assert district_of(gaz, spoken).district == district


def test_zone_goes_to_address_not_district(gaz):
    guess = district_of(gaz, "我 是 高新区 一个 新 楼盘 的 业主")
    assert guess.district is None
    assert guess.address == "株洲高新区"


def test_address_is_canonical_and_more_precise(gaz):
    guess = district_of(gaz, "鹿松区 建宁 街道 那边 一个 小区")
    assert guess.address == "芦淞区建宁街道"
    guess = district_of(gaz, "月塘 街道 金色 家园 小区 门口 很 吵")
    assert guess.address == "荷塘区月塘街道金色家园小区"


def test_majority_of_mentions_wins(gaz):
    guess = district_of(gaz, "我 住 天元区 但是 在 芦淞区 建设 中路 中心 广场 上班")
    assert guess.district == "芦淞区"
    assert guess.district_confidence < 0.9


def test_bad_config_is_reported():
    with pytest.raises(ValueError, match="not a district"):
        Gazetteer.from_config({"districts": [{"name": "甲区", "code": "1"}], "places": {"乙区": {"street": ["某街道"]}}})
    with pytest.raises(ValueError, match="unknown kind"):
        Gazetteer.from_config({"districts": [{"name": "甲区", "code": "1"}], "places": {"甲区": {"castle": ["某堡"]}}})
    with pytest.raises(ValueError, match="no districts"):
        Gazetteer.from_config({})
