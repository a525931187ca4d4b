"""Categories: the configured tree matches DOMAIN.md, and keywords classify."""
from __future__ import annotations

import pytest

from tickets.normalize import normalize
from tickets.rules import load_rules
from tickets.taxonomy import Taxonomy

DOMAIN_LEVEL1 = [
    "人力资源社会保障", "住房与城乡建设", "医疗卫生健康", "农林水利", "市场管理", "交通运输与交通秩序",
    "公共服务", "社会治安与综合治理", "科教文体", "城市管理", "社情民意", "民政与社会救助", "环境保护", "其他咨询",
]
DOMAIN_LEVEL2 = {"欠薪": "人力资源社会保障", "物业管理": "住房与城乡建设", "噪音扰民": "城市管理",
                 "占道经营": "城市管理", "违章停车": "城市管理", "停水停电": "公共服务"}


@pytest.fixture(scope="module")
def taxonomy():
    return load_rules().taxonomy


def classify(taxonomy, spoken):
    norm = normalize(spoken, 5000)
    return taxonomy.classify(norm.text, norm.boundaries)


def test_first_levels_are_the_fourteen_of_domain(taxonomy):
    assert list(taxonomy.level1) == DOMAIN_LEVEL1


def test_domain_second_levels_under_their_parents(taxonomy):
    for child, parent in DOMAIN_LEVEL2.items():
        assert taxonomy.parent_of[child] == parent


@pytest.mark.parametrize("spoken, category", [
    ("老板 拖欠 了 我们 三个 月 工资", ("人力资源社会保障", "欠薪")),
    ("物业 收 了 钱 什么 都 不 管", ("住房与城乡建设", "物业管理")),
    ("楼下 烧烤 店 吵 到 半夜", ("城市管理", "噪音扰民")),
    ("夜宵 摊 摆 到 人行道 上", ("城市管理", "占道经营")),
    ("小区 门口 乱 停 车 把 消防 通道 堵 了", ("城市管理", "违章停车")),
    ("整 栋 楼 停水 两 天 了", ("公共服务", "停水停电")),
    ("工厂 晚上 排 废气 很 刺鼻", ("环境保护", "大气污染")),
    ("我 想 问 一下 办 护照 去 哪里", ("其他咨询",)),
])
def test_keywords_classify(taxonomy, spoken, category):
    guess = classify(taxonomy, spoken)
    assert guess.category == category
    assert guess.matched and guess.evidence and 0 < guess.confidence <= 0.95


def test_second_level_needs_clear_evidence(taxonomy):
    guess = classify(taxonomy, "城管 能 不能 来 看 一下")
    assert guess.category == ("城市管理",)


def test_nothing_heard_falls_back_with_low_confidence(taxonomy):
    guess = classify(taxonomy, "喂 你好 请问 一下")
    assert guess.category == ("其他咨询",) and not guess.matched and guess.confidence <= 0.2


def test_ignored_words_do_not_count(taxonomy):
    # 偷偷 is "secretly", not theft
    assert classify(taxonomy, "有人 晚上 偷偷 挖 沙 河道").category[0] == "农林水利"


def test_word_boundaries_weigh_more():
    tax = Taxonomy.from_config({"categories": [
        {"name": "甲", "keywords": ["水"]}, {"name": "乙", "keywords": ["水"]},
    ]})
    inside = tax.classify("水", frozenset())
    assert inside.category == ("甲",)            # tie: first mentioned, then config order


def test_bad_category_config():
    with pytest.raises(ValueError, match="needs a name"):
        Taxonomy.from_config({"categories": [{"keywords": ["x"]}]})
    with pytest.raises(ValueError, match="duplicate"):
        Taxonomy.from_config({"categories": [{"name": "甲"}, {"name": "甲"}]})
    with pytest.raises(ValueError, match="fallback"):
        Taxonomy.from_config({"fallback": "丙", "categories": [{"name": "甲"}]})
