"""Dictionaries from config: caching, reloading, errors, tuning without code."""
from __future__ import annotations

import os
import shutil

import pytest

from tickets.extract import extract
from tickets.rules import DEFAULT_CONFIG_DIR, RulesError, load_rules


@pytest.fixture
def config_copy(tmp_path):
    folder = tmp_path / "tickets"
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    return folder


def test_loaded_once_per_folder():
    assert load_rules() is load_rules()
    assert load_rules() is load_rules(DEFAULT_CONFIG_DIR)


def test_edited_dictionary_is_picked_up(config_copy):
    before = load_rules(config_copy)
    assert extract("我 住 在 幸福 里 那边", before).district is None
    places = config_copy / "places.yaml"
    text = places.read_text(encoding="utf-8").replace("landmark: [红旗广场,", "landmark: [幸福里, 红旗广场,")
    places.write_text(text, encoding="utf-8")
    stat = places.stat()
    os.utime(places, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = load_rules(config_copy)
    assert after is not before
    assert extract("我 住 在 幸福 里 那边", after).district == "荷塘区"


def test_missing_file(config_copy):
    (config_copy / "rules.yaml").unlink()
    with pytest.raises(RulesError) as info:
        load_rules(config_copy)
    assert info.value.error_id == "tickets.rules_invalid"
    assert info.value.details["path"].endswith("rules.yaml")


@pytest.mark.parametrize("name, content, message", [
    ("categories.yaml", "categories: [\n", "not valid YAML"),
    ("categories.yaml", "- just a list\n", "mapping"),
    ("places.yaml", "districts: []\n", "no districts"),
    ("rules.yaml", "urgency:\n  combos:\n    - level: 很急\n      all_of: [[a]]\n", "not an urgency"),
    ("rules.yaml", "appeal_types:\n  cues:\n    吐槽: [x]\n", "unknown"),
])
def test_malformed_files_are_reported_with_their_path(config_copy, name, content, message):
    (config_copy / name).write_text(content, encoding="utf-8")
    with pytest.raises(RulesError, match=message) as info:
        load_rules(config_copy)
    assert name in info.value.message


def test_jieba_is_quiet(capfd):
    from tickets.rules import _segmenter

    rules = load_rules()
    _segmenter.cache_clear()                     # initialise jieba again, inside the capture
    assert rules.segment("我们小区停水了")
    captured = capfd.readouterr()
    assert "Building prefix dict" not in captured.err and "Loading model" not in captured.err


def test_place_names_segment_as_words():
    words = load_rules().segment("我住在茨菇塘街道炎帝陵附近")
    assert "茨菇塘街道" in words and "炎帝陵" in words
