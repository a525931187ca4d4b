"""Validation: one broken tree per kind of problem, each reported at the right path."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import yaml

from ivr import problems as P
from ivr.loader import load_data, load_file, load_text
from ivr.model import MenuNode, QueueNode
from ivr.validate import validate

DATA = Path(__file__).resolve().parents[1] / "data"
CONFIG = Path(__file__).resolve().parents[2] / "config"


def base_doc() -> dict:
    """A small valid tree to break one piece at a time."""
    return {
        "version": 1,
        "name": "t",
        "entry": "start",
        "lanes": {"general": {"label": "综合受理"}, "enterprise": {"label": "政企通", "priority": 5}},
        "lists": {"deputies": "lists/vips.csv"},
        "calendars": {"office": {"weekly": {"mon-fri": ["08:30-12:00"]}, "holidays": "cn"}},
        "nodes": {
            "start": {"type": "caller_check", "checks": [{"in_list": "deputies", "goto": "general_q"}],
                      "default": "welcome"},
            "welcome": {"type": "play", "prompt": {"text": "您好"}, "next": "menu"},
            "menu": {"type": "menu", "prompt": {"text": "请按2"}, "options": {"2": "hours", "0": "general_q"},
                     "timeout_s": 4, "retries": 2, "on_timeout": "general_q", "on_invalid": "general_q"},
            "hours": {"type": "schedule", "calendar": "office", "open": "ent_q", "closed": "general_q"},
            "ent_q": {"type": "queue", "lane": "enterprise", "describe": True},
            "general_q": {"type": "queue", "lane": "general"},
        },
    }


def problems_of(doc: dict, base_dir: Path | None = DATA) -> list[P.Problem]:
    return validate(doc, base_dir=base_dir)


def only(problems: list[P.Problem], code: str) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in problems if p.code == code]


def test_base_doc_and_fixtures_are_valid():
    assert problems_of(base_doc()) == []
    result = load_file(DATA / "ivr" / "all_types.yaml")
    assert result.ok, result.problems
    assert {n.type for n in result.tree.nodes.values()} == {
        "play", "menu", "collect", "caller_check", "schedule", "describe", "queue", "transfer",
        "survey", "hangup"}


def test_default_tree_is_valid_and_keeps_design_fields():
    result = load_file(CONFIG / "ivr" / "zhuzhou.yaml")
    assert result.ok, [str(p) for p in result.problems]
    tree = result.tree
    menu = tree.nodes["menu"]
    assert isinstance(menu, MenuNode) and menu.options["2"] == "ent_hours" and menu.on_timeout == "general_q"
    assert tree.lanes["enterprise"].overflow.to == "general" and tree.lanes["deputy"].priority == 9
    assert isinstance(tree.nodes["general_q"], QueueNode) and tree.nodes["general_q"].describe is not None
    assert len(result.lists["deputies"].numbers) == 12


def test_design_example_document_loads():
    """The example of DESIGN.md, verbatim."""
    text = (DATA / "ivr" / "design_example.yaml").read_text(encoding="utf-8")
    result = load_text(text, base_dir=CONFIG)
    assert result.ok, [str(p) for p in result.problems]
    assert result.tree.nodes["menu"].retries == 2


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize("mutate, path, code", [
    (lambda d: d["nodes"]["menu"].__setitem__("timeout_s", "4"), "nodes.menu.timeout_s", P.TYPE),
    (lambda d: d["nodes"]["welcome"].__setitem__("prompt", ["x"]), "nodes.welcome.prompt", P.TYPE),
    (lambda d: d["nodes"]["welcome"].__setitem__("next", 7), "nodes.welcome.next", P.PATTERN),
    (lambda d: d["nodes"]["ent_q"].__setitem__("describe", "yes"), "nodes.ent_q.describe", P.TYPE),
    (lambda d: d["nodes"].__setitem__("welcome", "play"), "nodes.welcome", P.TYPE),
    (lambda d: d.__setitem__("lanes", ["general"]), "lanes", P.TYPE),
])
def test_type_errors(mutate, path, code):
    doc = base_doc()
    mutate(doc)
    assert (path, code) in [(p.path, p.code) for p in problems_of(doc)]


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["nodes"]["ent_q"].pop("lane"), "nodes.ent_q.lane"),
    (lambda d: d["nodes"]["welcome"].pop("prompt"), "nodes.welcome.prompt"),
    (lambda d: d["nodes"]["hours"].pop("calendar"), "nodes.hours.calendar"),
    (lambda d: d["nodes"]["menu"].pop("options"), "nodes.menu.options"),
    (lambda d: d["nodes"]["menu"].pop("type"), "nodes.menu.type"),
    (lambda d: d.pop("entry"), "entry"),
    (lambda d: d.pop("version"), "version"),
    (lambda d: d["lanes"]["general"].pop("label"), "lanes.general.label"),
    (lambda d: d["nodes"]["welcome"].__setitem__("prompt", {}), "nodes.welcome.prompt"),
])
def test_missing_fields(mutate, path):
    doc = base_doc()
    mutate(doc)
    assert (path, P.MISSING) in [(p.path, p.code) for p in problems_of(doc)]


def test_unknown_fields_everywhere():
    doc = base_doc()
    doc["colour"] = 1
    doc["nodes"]["welcome"]["colour"] = "blue"
    doc["lanes"]["general"]["sla"] = 15
    doc["nodes"]["menu"]["prompt"]["voice"] = "female"
    doc["nodes"]["start"]["checks"][0]["when"] = "always"
    got = only(problems_of(doc), P.UNKNOWN_FIELD)
    assert set(got) == {("colour", P.UNKNOWN_FIELD), ("nodes.welcome.colour", P.UNKNOWN_FIELD),
                        ("lanes.general.sla", P.UNKNOWN_FIELD), ("nodes.menu.prompt.voice", P.UNKNOWN_FIELD),
                        ("nodes.start.checks.0.when", P.UNKNOWN_FIELD)}


def test_unknown_node_type_and_version():
    doc = base_doc()
    doc["nodes"]["welcome"]["type"] = "playback"
    doc["version"] = 2
    got = [(p.path, p.code) for p in problems_of(doc)]
    assert ("nodes.welcome.type", P.ENUM) in got
    assert ("version", P.VERSION) in got
    # the broken node still counts as declared: the menu's reference to it is not "unknown"
    assert not [g for g in got if g[1] == P.UNKNOWN_NODE]


def test_bad_patterns():
    doc = base_doc()
    doc["nodes"]["ticket"] = {"type": "collect", "prompt": {"text": "工单号"}, "var": "ticket no",
                              "pattern": "([0-9", "next": "general_q", "on_fail": "general_q"}
    doc["nodes"]["menu"]["options"]["9"] = "ticket"
    doc["nodes"]["tax"] = {"type": "transfer", "number": "12366abc"}
    doc["nodes"]["menu"]["options"]["8"] = "tax"
    doc["nodes"]["bad id!"] = {"type": "hangup"}
    doc["nodes"]["start"]["checks"].append({"did": "12-34", "goto": "general_q"})
    got = only(problems_of(doc), P.PATTERN)
    assert ("nodes.ticket.pattern", P.PATTERN) in got
    assert ("nodes.ticket.var", P.PATTERN) in got
    assert ("nodes.tax.number", P.PATTERN) in got
    assert ("nodes.bad id!", P.PATTERN) in got
    assert ("nodes.start.checks.1.did", P.PATTERN) in got


def test_bad_enum_values():
    doc = base_doc()
    doc["nodes"]["tax"] = {"type": "transfer", "number": "12366", "mode": "warm"}
    doc["nodes"]["menu"]["options"]["8"] = "tax"
    doc["calendars"]["office"]["holidays"] = "us"
    got = only(problems_of(doc), P.ENUM)
    assert set(got) == {("nodes.tax.mode", P.ENUM), ("calendars.office.holidays", P.ENUM)}


# ---------------------------------------------------------------- graph


def test_dangling_references():
    doc = base_doc()
    doc["nodes"]["menu"]["options"]["2"] = "enterprize_q"
    doc["nodes"]["hours"]["closed"] = "nowhere"
    doc["entry"] = "begin"
    problems = problems_of(doc)
    got = only(problems, P.UNKNOWN_NODE)
    assert set(got) == {("nodes.menu.options.2", P.UNKNOWN_NODE), ("nodes.hours.closed", P.UNKNOWN_NODE),
                        ("entry", P.UNKNOWN_NODE)}
    assert "nodes.menu.options.2: unknown node 'enterprize_q'" in [str(p) for p in problems]


def test_unreachable_nodes():
    doc = base_doc()
    doc["nodes"]["orphan"] = {"type": "play", "prompt": {"text": "x"}, "next": "orphan2"}
    doc["nodes"]["orphan2"] = {"type": "hangup"}
    assert only(problems_of(doc), P.UNREACHABLE) == [("nodes.orphan", P.UNREACHABLE),
                                                     ("nodes.orphan2", P.UNREACHABLE)]


def test_dead_ends():
    doc = base_doc()
    del doc["nodes"]["welcome"]["next"]
    del doc["nodes"]["hours"]["closed"]
    del doc["nodes"]["menu"]["on_timeout"]
    del doc["nodes"]["menu"]["on_invalid"]
    got = only(problems_of(doc), P.DEAD_END)
    assert set(got) == {("nodes.welcome.next", P.DEAD_END), ("nodes.hours.closed", P.DEAD_END),
                        ("nodes.menu.on_timeout", P.DEAD_END)}


def test_loop_with_no_way_out_and_loop_with_one():
    result = load_file(DATA / "ivr" / "loop.json")
    assert [(p.path, p.code) for p in result.problems] == [("nodes.a", P.LOOP)]
    assert "a -> b -> c -> a" in result.problems[0].message
    # A menu that can repeat itself is fine: it has a way out.
    doc = base_doc()
    doc["nodes"]["menu"]["options"]["*"] = "welcome"
    assert problems_of(doc) == []
    # Two plays feeding each other are not.
    doc["nodes"]["menu"]["options"]["9"] = "p1"
    doc["nodes"]["p1"] = {"type": "play", "prompt": {"text": "1"}, "next": "p2"}
    doc["nodes"]["p2"] = {"type": "play", "prompt": {"text": "2"}, "next": "p1"}
    assert only(problems_of(doc), P.LOOP) == [("nodes.p1", P.LOOP)]


def test_self_loop():
    doc = base_doc()
    doc["nodes"]["menu"]["options"]["9"] = "again"
    doc["nodes"]["again"] = {"type": "play", "prompt": {"text": "again"}, "next": "again"}
    assert only(problems_of(doc), P.LOOP) == [("nodes.again", P.LOOP)]


def test_duplicate_dtmf_keys_in_yaml():
    text = yaml.safe_dump(base_doc(), allow_unicode=True).replace(
        "      '0': general_q\n", "      '0': general_q\n      0: hours\n      '2': ent_q\n")
    assert "0: hours" in text
    got = [(p.path, p.code) for p in load_text(text, base_dir=DATA).problems]
    assert ("nodes.menu.options.0", P.DUPLICATE_KEY) in got  # '0' and 0 are the same key
    assert ("nodes.menu.options.2", P.DUPLICATE_KEY) in got  # '2' twice


def test_duplicate_keys_in_json():
    text = json.dumps(base_doc()).replace('"0": "general_q"', '"0": "general_q", "0": "hours"')
    got = [(p.path, p.code) for p in load_text(text, base_dir=DATA).problems]
    assert got == [("nodes.menu.options.0", P.DUPLICATE_KEY)]


@pytest.mark.parametrize("key", ["A", "2a", "", " ", "+"])
def test_invalid_dtmf_keys(key):
    doc = base_doc()
    doc["nodes"]["menu"]["options"][key] = "general_q"
    assert (f"nodes.menu.options.{key}", P.INVALID_DTMF) in [(p.path, p.code) for p in problems_of(doc)]


def test_star_hash_keys_and_long_keys():
    doc = base_doc()
    doc["nodes"]["menu"]["options"].update({"*": "welcome", "#": "general_q"})
    assert problems_of(doc) == []
    doc["nodes"]["menu"]["options"]["12"] = "general_q"
    doc["nodes"]["menu"]["max_digits"] = 1
    assert ("nodes.menu.options.12", P.RANGE) in [(p.path, p.code) for p in problems_of(doc)]
    del doc["nodes"]["menu"]["max_digits"]  # default: the longest key
    assert problems_of(doc) == []


@pytest.mark.parametrize("field, value", [
    ("timeout_s", 0), ("timeout_s", 31), ("retries", -1), ("retries", 6), ("max_digits", 11),
    ("timeout_s", True),
])
def test_timeouts_and_retries_out_of_range(field, value):
    doc = base_doc()
    doc["nodes"]["menu"][field] = value
    got = [(p.path, p.code) for p in problems_of(doc)]
    assert (f"nodes.menu.{field}", P.TYPE if value is True else P.RANGE) in got


def test_other_ranges():
    doc = base_doc()
    doc["nodes"]["ent_q"]["announce_every_s"] = 5000
    doc["nodes"]["ent_q"]["callback_after_s"] = 1
    doc["lanes"]["general"]["priority"] = 10
    doc["lanes"]["enterprise"]["overflow"] = {"after_s": 1, "to": "general"}
    got = set(only(problems_of(doc), P.RANGE))
    assert got == {("nodes.ent_q.announce_every_s", P.RANGE), ("nodes.ent_q.callback_after_s", P.RANGE),
                   ("lanes.general.priority", P.RANGE), ("lanes.enterprise.overflow.after_s", P.RANGE)}


def test_unknown_lanes_lists_calendars():
    doc = base_doc()
    doc["nodes"]["ent_q"]["lane"] = "enterprize"
    doc["nodes"]["start"]["checks"][0]["in_list"] = "deputys"
    doc["nodes"]["hours"]["calendar"] = "ofice"
    doc["lanes"]["enterprise"]["overflow"] = {"after_s": 90, "to": "generic"}
    got = [(p.path, p.code) for p in problems_of(doc)]
    assert ("nodes.ent_q.lane", P.UNKNOWN_LANE) in got
    assert ("nodes.start.checks.0.in_list", P.UNKNOWN_LIST) in got
    assert ("nodes.hours.calendar", P.UNKNOWN_CALENDAR) in got
    assert ("lanes.enterprise.overflow.to", P.UNKNOWN_LANE) in got


def test_overflow_circle():
    doc = base_doc()
    doc["lanes"]["general"]["overflow"] = {"after_s": 60, "to": "enterprise"}
    doc["lanes"]["enterprise"]["overflow"] = {"after_s": 60, "to": "general"}
    got = only(problems_of(doc), P.LOOP)
    assert ("lanes.general.overflow.to", P.LOOP) in got


def test_missing_prompt_audio_files():
    doc = base_doc()
    doc["nodes"]["welcome"]["prompt"] = {"file": "prompts/welcome.wav"}  # exists
    doc["nodes"]["menu"]["prompt"] = {"file": "prompts/welcome"}  # exists, Asterisk style
    doc["nodes"]["menu"]["invalid_prompt"] = {"file": "prompts/nope.wav"}
    doc["defaults"] = {"timeout_prompt": {"file": "prompts/gone.wav"}}
    got = only(problems_of(doc), P.FILE_NOT_FOUND)
    assert got == [("defaults.timeout_prompt.file", P.FILE_NOT_FOUND),
                   ("nodes.menu.invalid_prompt.file", P.FILE_NOT_FOUND)]
    # Without a base directory files are not looked at.
    assert problems_of(doc, base_dir=None) == []


def test_lists_that_do_not_parse():
    result = load_file(DATA / "ivr" / "bad_list.yaml")
    got = [(p.path, p.code) for p in result.problems]
    assert got == [
        ("lists.vips.line.3", P.LIST_LINE), ("lists.vips.line.6", P.LIST_LINE),
        ("lists.vips.line.7", P.LIST_LINE), ("lists.vips.line.10", P.LIST_LINE),
        ("lists.gone", P.FILE_NOT_FOUND),
    ]
    assert result.problems[0].message.startswith("line 3:")
    assert result.tree is None


def test_bad_calendars():
    doc = base_doc()
    doc["calendars"]["office"]["weekly"] = {"mon-frx": ["08:30-12:00"], "sat": ["25:00-26:00"],
                                            "sun": ["12:00-08:00"], "tue": ["09:00-10:00"]}
    got = only(problems_of(doc), P.CALENDAR)
    assert set(got) == {("calendars.office.weekly.mon-frx", P.CALENDAR),
                        ("calendars.office.weekly.sat.0", P.CALENDAR),
                        ("calendars.office.weekly.sun.0", P.CALENDAR)}
    doc = base_doc()
    doc["calendars"]["office"]["weekly"] = {"mon-fri": ["08:00-12:00"], "fri": ["13:00-14:00"]}
    doc["calendars"]["office"]["overrides"] = [{"date": "2024-13-01", "closed": True}]
    got = only(problems_of(doc), P.CALENDAR)
    assert set(got) == {("calendars.office.weekly.fri", P.CALENDAR),
                        ("calendars.office.overrides.0.date", P.CALENDAR)}


def test_missing_overrides_file():
    doc = base_doc()
    doc["calendars"]["office"]["overrides"] = "calendars/none.yaml"
    got = only(problems_of(doc), P.FILE_NOT_FOUND)
    assert got == [("calendars.office.overrides", P.FILE_NOT_FOUND)]


def test_five_problems_all_reported():
    result = load_file(DATA / "ivr" / "five_problems.yaml")
    assert sorted((p.path, p.code) for p in result.problems) == sorted([
        ("nodes.welcome.colour", P.UNKNOWN_FIELD),
        ("nodes.menu.options.2", P.UNKNOWN_NODE),
        ("nodes.menu.timeout_s", P.RANGE),
        ("nodes.general_q.lane", P.UNKNOWN_LANE),
        ("nodes.orphan", P.UNREACHABLE),
    ])
    # line numbers of the YAML document come along
    assert {p.path: p.line for p in result.problems}["nodes.menu.timeout_s"] == 18


def test_many_problems_in_one_pass():
    doc = base_doc()
    broken = copy.deepcopy(doc)
    for i in range(50):
        broken["nodes"]["menu"]["options"][str(i % 10) * (1 + i // 10)] = f"missing{i}"
    broken["nodes"]["menu"]["max_digits"] = 5
    assert len(only(problems_of(broken), P.UNKNOWN_NODE)) == 50


# ---------------------------------------------------------------- size and speed


def big_tree(n: int) -> dict:
    nodes: dict = {"start": {"type": "play", "prompt": {"text": "您好"}, "next": "m0"}}
    for i in range(n - 2):
        nxt = f"m{i + 1}" if i < n - 3 else "q"
        nodes[f"m{i}"] = {"type": "menu", "prompt": {"text": f"菜单{i}"}, "options": {"1": nxt, "2": "q"},
                          "timeout_s": 5, "retries": 1, "on_timeout": "q"}
    nodes["q"] = {"type": "queue", "lane": "general", "describe": True}
    return {"version": 1, "name": "big", "entry": "start", "lanes": {"general": {"label": "g"}}, "nodes": nodes}


def test_ten_thousand_nodes_validate_in_under_two_seconds(tmp_path):
    """CPU time of this process (wall time grows with whatever else the machine runs)."""
    doc = big_tree(10_000)
    path = tmp_path / "big.yaml"
    path.write_text(yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    t0 = time.process_time()
    result = load_file(path)
    elapsed = time.process_time() - t0
    assert result.ok and len(result.tree.nodes) == 10_000
    assert elapsed < 2.0, f"10,000-node YAML tree took {elapsed:.2f} s of CPU"
    # and every problem is still found in a big tree
    doc["nodes"]["m5000"]["options"]["3"] = "nowhere"
    doc["nodes"]["m9000"]["timeout_s"] = 0
    t0 = time.process_time()
    got = [(p.path, p.code) for p in load_data(doc).problems]
    assert time.process_time() - t0 < 2.0
    assert sorted(got) == [("nodes.m5000.options.3", P.UNKNOWN_NODE), ("nodes.m9000.timeout_s", P.RANGE)]


def test_long_dead_chain_in_big_tree_is_found_without_recursion_limits():
    doc = big_tree(5000)
    doc["nodes"]["m4997"]["options"] = {"1": "m0"}
    doc["nodes"]["m4997"]["on_timeout"] = "m0"
    for i in range(4997):
        doc["nodes"][f"m{i}"]["options"] = {"1": f"m{i + 1}"}
        doc["nodes"][f"m{i}"]["on_timeout"] = f"m{i + 1}"
    doc["nodes"]["start"]["next"] = "m0"
    got = only(load_data(doc).problems, P.LOOP)
    assert got == [("nodes.m0", P.LOOP)]
