"""Semantic diff between two trees."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from ivr.diff import diff_trees, is_empty, summarize
from ivr.loader import load_data, load_file, load_text

CONFIG = Path(__file__).resolve().parents[2] / "config"


def default_doc() -> dict:
    return yaml.safe_load((CONFIG / "ivr" / "zhuzhou.yaml").read_text(encoding="utf-8"))


def tree_of(doc):
    result = load_data(doc)
    assert result.ok, result.problems
    return result.tree


def test_same_tree_in_other_formats_has_no_diff():
    doc = default_doc()
    a = load_file(CONFIG / "ivr" / "zhuzhou.yaml", base_dir=None).tree
    b = load_text(json.dumps(doc, ensure_ascii=False)).tree
    d = diff_trees(a, b)
    assert is_empty(d) and summarize(d) == []
    # writing a default out explicitly changes nothing either
    doc2 = copy.deepcopy(doc)
    doc2["nodes"]["bye"]["label"] = ""
    doc2["nodes"]["enterprise_q"]["moh"] = "default"
    assert is_empty(diff_trees(a, tree_of(doc2)))


def test_nodes_options_lanes_changes():
    old = default_doc()
    new = copy.deepcopy(old)
    new["nodes"]["menu"]["timeout_s"] = 6
    new["nodes"]["menu"]["options"]["9"] = "tax"
    del new["nodes"]["menu"]["options"]["0"]
    new["nodes"]["menu"]["options"]["2"] = "enterprise_q"
    new["nodes"]["tax"] = {"type": "transfer", "number": "12366"}
    del new["nodes"]["ent_hours"]
    new["lanes"]["enterprise"]["priority"] = 6
    new["lanes"]["tax"] = {"label": "税务"}
    d = diff_trees(tree_of(old), tree_of(new))
    assert d["nodes"]["added"] == ["tax"] and d["nodes"]["removed"] == ["ent_hours"]
    menu = d["nodes"]["changed"]["menu"]
    assert menu["fields"] == {"timeout_s": {"old": 4, "new": 6}}
    assert menu["options"] == {"added": {"9": "tax"}, "removed": {"0": "general_q"},
                               "changed": {"2": {"old": "ent_hours", "new": "enterprise_q"}}}
    assert d["lanes"]["changed"] == {"enterprise": {"priority": {"old": 5, "new": 6}}}
    assert d["lanes"]["added"] == ["tax"]
    assert not is_empty(d)
    json.dumps(d, ensure_ascii=False)  # JSON-able
    lines = summarize(d)
    assert "nodes.menu.timeout_s: 4 -> 6" in lines
    assert "nodes.menu.options.9: added -> tax" in lines
    assert "nodes.ent_hours: removed" in lines


def test_prompt_type_entry_and_calendar_changes():
    old = default_doc()
    new = copy.deepcopy(old)
    new["nodes"]["welcome"]["prompt"] = {"text": "您好"}
    new["nodes"]["bye"] = {"type": "play", "prompt": {"text": "再见"}, "next": "general_q"}
    new["nodes"]["intro"] = {"type": "play", "prompt": {"text": "测试"}, "next": "start"}
    new["entry"] = "intro"
    new["calendars"]["office"]["weekly"] = {"mon-fri": ["08:00-18:00"]}
    d = diff_trees(tree_of(old), tree_of(new))
    assert d["tree"]["entry"] == {"old": "start", "new": "intro"} and d["nodes"]["added"] == ["intro"]
    assert d["nodes"]["changed"]["welcome"]["fields"]["prompt"]["new"] == {"text": "您好"}
    assert d["nodes"]["changed"]["bye"]["fields"]["type"] == {"old": "hangup", "new": "play"}
    assert "weekly" in d["calendars"]["changed"]["office"]
