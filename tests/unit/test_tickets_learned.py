"""The learned model: training, calibrated suggestions, files 0600, versions, retraining kept only if not worse."""
from __future__ import annotations

import json
import os
import stat
from itertools import islice

import pytest

from tickets import learned, training
from tickets.extract import extract
from tickets.rules import load_rules


@pytest.fixture(scope="module")
def small_model():
    cases = list(islice(learned.cases_from_files([learned.DATA / "tickets_train.jsonl"]), 800))
    return learned.train(cases, version="v0001", source="test")


def test_prediction_is_a_distribution_and_suggestions_are_ranked(small_model):
    rules = load_rules()
    d = extract("我 要 投诉 荷塘区 月塘 街道 的 物业 收 了 物业费 不 管 电梯 坏 了 也 不 修", rules, model=small_model)
    for name, ranked in small_model.predict("物业不管电梯坏了", {0, 2, 4, 6, 8}).items():
        total = sum(p for _, p in ranked)
        assert abs(total - 1.0) < 1e-4 and ranked == sorted(ranked, key=lambda kv: kv[1], reverse=True), name
    sug = d.to_contract()["suggestions"]
    assert d.category[0] == "住房与城乡建设" and sug["category"][0]["value"] == list(d.category)
    for name in ("appeal_type", "category", "urgency"):
        confs = [s["confidence"] for s in sug[name]]
        assert 1 <= len(confs) <= 3 and confs == sorted(confs, reverse=True) and all(0 <= c <= 1 for c in confs)
    assert sug["appeal_type"][0]["value"] == d.appeal_type


def test_rules_keep_emergencies_whatever_the_model_says(small_model):
    d = extract("快 来人 我们 楼道 里 一股 很 浓 的 煤气 味", load_rules(), model=small_model)
    assert d.emergency == "119" and d.urgency == "特急" and d.appeal_type == "求助"
    assert d.alert["emergency"] == "119"


def test_saved_0600_loaded_and_rolled_back(small_model, tmp_path):
    folder = tmp_path / "models"
    path = learned.save(small_model, folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    learned.use("v0001", folder)
    again = learned.load(path)
    assert again.predict("停水了", ()) == small_model.predict("停水了", ())
    learned.save(learned.LearnedModel(small_model.vectorizer, small_model.classifiers,
                                      {**small_model.meta, "version": "v0002"}), folder)
    learned.use("v0002", folder)
    assert [v["version"] for v in learned.versions(folder)] == ["v0001", "v0002"]
    assert learned.current_version(folder) == "v0002"
    learned.use("v0001", folder)                              # roll back
    assert learned.current_version(folder) == "v0001"
    with pytest.raises(learned.ModelError):
        learned.use("../../etc/passwd", folder)
    with pytest.raises(learned.ModelError):
        learned.use("v0009", folder)
    os.chmod(path, 0o644)                                     # a file others can write is not unpickled
    with pytest.raises(learned.ModelError):
        learned.load(path)


def test_case_from_a_confirmed_ticket_uses_the_operator_fields_and_turns():
    t = {"id": "ZZ12345-20261203-000001", "status": "confirmed", "transcript": "x",
         "turns": [{"speaker": "operator", "text": "请讲"}, {"speaker": "caller", "text": "我家停电了"}],
         "confirmed": {"appeal_type": "求助", "category": ["公共服务", "停水停电"], "urgency": "紧急", "emergency": None}}
    case = training.case_from_ticket(t)
    assert case.transcript == "话务员：请讲\n来电人：我家停电了"
    assert case.labels["category"] == ["公共服务", "停水停电"] and case.split in ("train", "holdout")
    assert training.case_from_ticket({**t, "confirmed": None}) is None
    assert training.case_from_ticket({**t, "status": "draft"}) is None


@pytest.mark.slow
def test_retrain_keeps_a_model_only_if_it_is_not_worse(small_model, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    rules = load_rules()
    learned.save(small_model, folder)                         # the current model: 800 committed cases
    learned.use("v0001", folder)
    real_train = learned.train
    tickets = [{"id": f"T{i:04d}", "status": "confirmed", "transcript": "我们 这里 的 沤肥 场 臭 得 不行",
                "confirmed": {"appeal_type": "投诉", "category": ["环境保护", "大气污染"], "urgency": "一般",
                              "emergency": None}} for i in range(20)]

    def mislabelled(cases, **kw):
        """A genuinely weaker model whatever its share against the rules: the current model's 800
        cases with every appeal type and category moved to the next one."""
        cases = list(cases)[:800]
        appeals = sorted({c[1]["appeal_type"] for c in cases})
        cats = sorted({tuple(c[1]["category"]) for c in cases})

        def wrong(lab):
            return {**lab, "appeal_type": appeals[(appeals.index(lab["appeal_type"]) + 1) % len(appeals)],
                    "category": list(cats[(cats.index(tuple(lab["category"])) + 1) % len(cats)])}

        return real_train([(c[0], wrong(c[1]), *c[2:]) for c in cases], **kw)

    monkeypatch.setattr(learned, "train", mislabelled)
    worse = training.retrain(tickets, folder, rules)
    assert worse.version == "v0002" and not worse.kept, worse
    assert worse.new["mean"] < worse.old["mean"] or worse.new["emergency_recall"] < worse.old["emergency_recall"]
    assert learned.current_version(folder) == "v0001"         # the current one stays
    meta = json.loads((folder / "v0002.json").read_text())
    assert meta["kept"] is False and meta["previous"] == "v0001"

    def same(cases, **kw):                                    # the current model's own data: a tie is kept
        return real_train(list(cases)[:800], **kw)

    monkeypatch.setattr(learned, "train", same)
    better = training.retrain(tickets, folder, rules)
    assert better.kept and learned.current_version(folder) == "v0003", better
    assert better.new["mean"] >= better.old["mean"]


def test_a_default_model_from_an_older_committed_set_is_retrained_a_site_model_is_kept(small_model, tmp_path,
                                                                                          monkeypatch):
    """setup and the hotline use default_model(): one trained from another copy of the committed set
    (the set changed since) is replaced at first use; a site's model (trained from its tickets) is kept."""
    monkeypatch.setenv("HOTLINE_TICKETS_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(learned, "_CACHE", {})
    trained = []

    def fake_bootstrap(folder):
        trained.append(folder)
        return small_model

    monkeypatch.setattr(learned, "bootstrap", fake_bootstrap)

    def current(version, meta):
        model = learned.LearnedModel(small_model.vectorizer, small_model.classifiers, {**small_model.meta,
                                                                                         "version": version, **meta})
        learned.save(model, tmp_path)
        learned.use(version, tmp_path)
        learned._CACHE.clear()

    current("v0001", {"source": "committed set", "set_digest": "0" * 64})
    assert learned.default_model() is small_model and trained == [tmp_path]
    current("v0002", {"source": "committed set", "set_digest": learned.committed_set_digest()})
    assert learned.default_model().version == "v0002" and len(trained) == 1
    current("v0003", {"source": "confirmed tickets"})
    assert learned.default_model().version == "v0003" and len(trained) == 1
