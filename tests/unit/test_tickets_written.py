"""The hand-written training calls (tests/data/tickets_written.jsonl) and the general rule fixes
their first measurement showed: a danger that is over (撞了车，好在人没事), a thank-you call that
recalls one, a child's fever that 烧起来 again."""
from __future__ import annotations

import collections
import json

import pytest
import yaml

from tickets import learned
from tickets.extract import extract
from tickets.model import APPEAL_TYPES
from tickets.rules import load_rules

WRITTEN = learned.DATA / "tickets_written.jsonl"


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_written_set_is_big_varied_and_trained_on(rows):
    assert WRITTEN in learned.TRAIN_FILES
    assert len(rows) >= 400
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["transcript"] for r in rows}) == len(rows)
    labels = [r["labels"] for r in rows]
    assert {lab["appeal_type"] for lab in labels} == set(APPEAL_TYPES)
    tops = collections.Counter(lab["category"][0] for lab in labels)
    assert len(tops) == 14 and min(tops.values()) >= 8, tops
    styles = collections.Counter(r["style"] for r in rows)
    assert min(styles[s] for s in ("clean", "asr", "dialogue")) >= 60, styles
    kinds = collections.Counter(lab["emergency"] for lab in labels)
    assert min(kinds[k] for k in ("110", "119", "120")) >= 15, kinds
    assert sum(1 for lab in labels if lab["emergency"] is None and lab["urgency"] == "一般") >= 300


def test_the_written_labels_are_of_the_taxonomy_and_the_districts(rows):
    rules = load_rules()
    taxonomy = rules.taxonomy
    places = yaml.safe_load((rules.config_dir / "places.yaml").read_text(encoding="utf-8"))
    districts = {d["name"] for d in places["districts"]}
    for r in rows:
        lab = r["labels"]
        cat = lab["category"]
        assert cat[0] in taxonomy.level1, (r["id"], cat)
        assert len(cat) == 1 or (len(cat) == 2 and cat[1] in taxonomy.children[cat[0]]), (r["id"], cat)
        assert lab["urgency"] in ("一般", "紧急", "特急") and (lab["emergency"] is None or lab["urgency"] == "特急"), r["id"]
        if lab["district"] is not None:
            assert lab["district"] in districts, (r["id"], lab["district"])


def test_generated_and_hand_written_calls_are_weighted_apart(monkeypatch):
    monkeypatch.setattr(learned, "HAND_WRITTEN_WEIGHT", 3.0)
    first_generated = next(learned.weighted_cases([learned.DATA / "tickets_train.jsonl"]))
    first_written = next(learned.weighted_cases([WRITTEN]))
    assert first_generated[2] == 1.0 and first_written[2] == 3.0


@pytest.mark.parametrize("text", [
    "我们这个路口上礼拜两台车撞了，好在人没事，就是这个路口视线太差，能不能装个反光镜。",
    "我想表扬一下消防队，那次我们仓库着火，他们几分钟就到了，谢谢他们。",
    "我家孩子发烧两天了，吃了药退下去，晚上又烧起来了，想问一下哪个医院晚上有儿科。",
    "上个星期我们楼有人被困在电梯里，到现在电梯也没修好，物业一直拖着。",
])
def test_dangers_that_are_over_or_not_dangers_raise_no_emergency(text):
    draft = extract(text, model=None)
    assert draft.emergency is None, (text, draft.evidence["emergency"])
    assert draft.urgency != "特急", (text, draft.evidence["urgency"])


@pytest.mark.parametrize("text, kind", [
    ("快点来人，我家隔壁厨房里冒火了，火苗从窗户里窜出来了，里面还有个老人。", "119"),
    ("我外婆吃东西卡住了，咳不出来，脸憋得发紫。", "120"),
    ("有人在撬我家的门，我一个人在家，好害怕。", "110"),
])
def test_dangers_said_in_other_words_are_still_heard(text, kind):
    assert extract(text, model=None).emergency == kind


def test_a_thank_you_call_recalling_a_fire_is_praise():
    draft = extract("我就是打来说一声谢谢，上个月我们楼下起火，社区的同志挨家挨户叫我们下楼。", model=None)
    assert draft.appeal_type == "表扬" and draft.emergency is None
