"""Loading: syntax errors, size limits, YAML features, as problems not tracebacks."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from ivr import problems as P
from ivr.loader import DEFAULT_MAX_BYTES, default_base_dir, load_data, load_file, load_text, parse_text

DATA = Path(__file__).resolve().parents[1] / "data"
CONFIG = Path(__file__).resolve().parents[2] / "config"

SMALL = """
version: 1
name: small
entry: q
lanes: {general: {label: 综合}}
nodes:
  q: {type: queue, lane: general}
"""


def test_yaml_and_json_give_the_same_tree():
    a = load_text(SMALL)
    b = load_text(json.dumps(yaml.safe_load(SMALL), ensure_ascii=False))
    assert a.ok and b.ok and a.tree == b.tree


def test_syntax_error_file_reports_line_and_column():
    result = load_file(DATA / "ivr" / "syntax_error.yaml")
    assert result.tree is None
    [problem] = result.problems
    assert problem.code == P.SYNTAX and problem.path == ""
    assert "line 6, column 8" in problem.message


def test_json_syntax_error_reports_line_and_column():
    [problem] = load_text('{"version": 1,\n "name": "x",\n "nodes": {,}}').problems
    assert problem.code == P.SYNTAX and "line 3, column 12" in problem.message


def test_tabs_and_bad_indentation_are_syntax_errors():
    [problem] = load_text("version: 1\nnodes:\n\tq: {type: hangup}\n").problems
    assert problem.code == P.SYNTAX and "line 3" in problem.message


def test_five_megabyte_document_is_refused_with_a_size_error(tmp_path):
    filler = "# " + "x" * 98 + "\n"
    text = SMALL + filler * (5 * 1024 * 1024 // len(filler) + 1)
    assert len(text.encode()) > 5 * 1024 * 1024
    [problem] = load_text(text).problems
    assert problem.code == P.TOO_LARGE and "5.0 MB" in problem.message and "4.0 MB" in problem.message
    path = tmp_path / "huge.yaml"
    path.write_text(text, encoding="utf-8")
    [problem] = load_file(path).problems
    assert problem.code == P.TOO_LARGE
    # the limit is configurable
    assert load_file(path, max_bytes=6 * 1024 * 1024).ok
    assert DEFAULT_MAX_BYTES == 4 * 1024 * 1024


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("nodes: *a8")
    parsed = parse_text("\n".join(lines))
    # aliases share values: nothing explodes in memory, and the tree is simply invalid
    assert parsed.data is not None
    result = load_text("\n".join(lines))
    assert not result.ok


def test_deep_nesting_is_refused():
    [problem] = parse_text("a: " + "[" * 200 + "]" * 200).problems
    assert problem.code == P.TOO_LARGE


def test_anchors_and_merge_keys_work():
    text = """
version: 1
name: merge
entry: menu
lanes: {general: {label: 综合}}
x-menu: &menu_defaults {type: menu, timeout_s: 7, retries: 1, on_timeout: q}
nodes:
  menu:
    <<: *menu_defaults
    retries: 3
    prompt: {text: 请按1}
    options: {"1": q}
  q: {type: queue, lane: general}
"""
    # 'x-menu' is not a tree field: reported, but the merge itself works
    result = load_text(text)
    assert [(p.path, p.code) for p in result.problems] == [("x-menu", P.UNKNOWN_FIELD)]
    parsed = parse_text(text)
    menu = parsed.data["nodes"]["menu"]
    assert menu["timeout_s"] == 7 and menu["retries"] == 3 and menu["type"] == "menu"


def test_scalars_resolve_like_safe_load():
    text = "a: 1\nb: '1'\nc: true\nd: null\ne: 2024-10-01\nf: 1.5\ng: ~\nh: no\ni: 0x10\nj: !!str 7\n"
    expected = yaml.safe_load(text)
    expected["e"] = "2024-10-01"  # dates stay JSON-able
    assert parse_text(text).data == expected
    assert dt.date.fromisoformat(parse_text(text).data["e"]) == dt.date(2024, 10, 1)


def test_parsed_documents_round_trip_through_json():
    """Versions are stored as JSON: a parsed document survives json.dumps/loads unchanged."""
    text = SMALL.replace("lanes:", "calendars:\n  c: {weekly: {daily: ['00:00-24:00']},"
                                   " overrides: [{date: 2024-03-05, closed: true}]}\nlanes:")
    data = parse_text(text).data
    again = json.loads(json.dumps(data, ensure_ascii=False))
    assert again == data
    a, b = load_data(data), load_data(again)
    assert a.ok and b.ok and a.tree == b.tree
    assert a.tree.calendars["c"].overrides[0].date == dt.date(2024, 3, 5)


def test_empty_multi_document_and_non_mapping():
    assert load_text("").problems[0].code == P.TYPE
    assert load_text("a: 1\n---\nb: 2\n").problems[0].code == P.SYNTAX
    [problem] = load_text("- 1\n- 2\n").problems
    assert problem.code == P.TYPE and "mapping" in problem.message


def test_undefined_alias_and_non_utf8():
    assert load_text("a: *nope\n").problems[0].code == P.SYNTAX
    assert load_text(b"name: \xff\xfe\n").problems[0].code == P.SYNTAX


def test_unreadable_file(tmp_path):
    [problem] = load_file(tmp_path / "missing.yaml").problems
    assert problem.code == P.UNREADABLE


def test_default_base_dir():
    assert default_base_dir(CONFIG / "ivr" / "zhuzhou.yaml") == CONFIG.resolve()
    assert default_base_dir(Path("/tmp/x/tree.yaml")) == Path("/tmp/x")


def test_result_require_raises_structured_error():
    result = load_file(DATA / "ivr" / "five_problems.yaml")
    try:
        result.require()
    except P.TreeInvalid as exc:
        assert len(exc.problems) == 5
        assert exc.to_dict()["error"] == "tree_invalid" and len(exc.details["problems"]) == 5
    else:  # pragma: no cover
        raise AssertionError("require() accepted an invalid tree")


def test_mapping_keys_are_the_strings_written():
    parsed = parse_text("a: {2: x, 00: y, yes: z, 1.0: w}\nb: {2: x, '2': y}\n")
    assert parsed.data["a"] == {"2": "x", "00": "y", "yes": "z", "1.0": "w"}
    assert [(p.path, p.code) for p in parsed.problems] == [("b.2", P.DUPLICATE_KEY)]
    json.dumps(parsed.data, sort_keys=True)  # string keys only: canonical JSON works
