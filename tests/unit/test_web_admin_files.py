"""Pure helpers of the admin API: YAML block replacement that keeps comments,
atomic writes keeping the previous file, CSV rendering, problem paths to
nodes, and the semantic diff's summary of a node whose options alone changed."""
from __future__ import annotations

import csv
import io

import yaml

from ivr.config_text import block, leading_comments, list_csv, replace_blocks, write_atomic
from ivr.diff import diff_trees, summarize
from ivr.loader import load_data
from web.problem_views import node_of, problem_view
from web.routes_admin_ivr import to_yaml

SEATS = """\
# Seats file
seats:
  - {id: "1001", name: 一号}   # the first
  - {id: "1002", name: 二号}

# Operators log in to any seat.
operators:
  - {id: "8001", name: 甲, skills: {general: 5}}

# Pause reasons
pause_reasons: [小休]
wrap_up_s: 15
"""


def test_replace_blocks_keeps_everything_else():
    new = replace_blocks(SEATS, {"seats": block("seats", [{"id": "2001", "name": "新席"}]),
                                 "operators": block("operators", [])})
    assert new.startswith("# Seats file\nseats:\n  - {id: '2001', name: 新席}\n\n# Operators log in to any seat.\n")
    assert "operators: []\n\n# Pause reasons\npause_reasons: [小休]\nwrap_up_s: 15\n" in new
    data = yaml.safe_load(new)
    assert data["seats"] == [{"id": "2001", "name": "新席"}] and data["operators"] == [] and data["wrap_up_s"] == 15


def test_replace_blocks_appends_a_missing_block():
    new = replace_blocks("ring_s: 30", {"targets": block("targets", [{"id": "tax", "number": "12366"}])})
    assert yaml.safe_load(new) == {"ring_s": 30, "targets": [{"id": "tax", "number": "12366"}]}


def test_write_atomic_keeps_the_previous_content(tmp_path):
    path = tmp_path / "a.yaml"
    write_atomic(path, "one\n")
    write_atomic(path, "two\n")
    assert path.read_text() == "two\n" and (tmp_path / "a.yaml.prev").read_text() == "one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "a.yaml.prev"]     # no temporary left


def test_list_csv_quotes_what_needs_it():
    text = list_csv(leading_comments("# 名单\n# 说明\nnumber,name\n1,2\n"), [("13800001001", "张, 代表", 'say "hi"')])
    assert text.startswith("# 名单\n# 说明\nnumber,name,note\n")
    rows = list(csv.reader(io.StringIO(text.split("\n", 3)[3])))
    assert rows == [["13800001001", "张, 代表", 'say "hi"']]


def test_problem_paths_name_their_node():
    assert node_of("nodes.menu.options.5") == "menu" and node_of("lanes.x") is None and node_of("") is None
    view = problem_view({"path": "nodes.menu.options.A", "code": "invalid_dtmf", "message": "bad"})
    assert view["node"] == "menu" and view["text"].startswith("按键无效")


def test_yaml_export_reads_back_and_keeps_the_reading_order():
    doc = {"nodes": {"bye": {"type": "hangup"}}, "entry": "bye", "version": 1, "name": "t"}
    text = to_yaml(doc)
    assert text.index("version") < text.index("entry") < text.index("nodes")
    assert yaml.safe_load(text) == doc


def test_summary_of_a_node_whose_options_alone_changed():
    base = {"version": 1, "name": "t", "entry": "m", "nodes": {
        "m": {"type": "menu", "prompt": {"text": "请按键"}, "options": {"1": "a"}, "on_timeout": "a", "on_invalid": "b"},
        "a": {"type": "hangup"}, "b": {"type": "hangup"}}}
    new = {**base, "nodes": {**base["nodes"], "m": {**base["nodes"]["m"], "options": {"1": "a", "2": "b"}}}}
    diff = diff_trees(load_data(base).require(), load_data(new).require())
    assert summarize(diff) == ["nodes.m.options.2: added -> b"]


def test_write_atomic_keeps_the_backup_as_private_as_the_original(tmp_path):
    """Issue #12 item 12: `.prev` backups were 0644 beside 0600 originals."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "seat-secrets.yaml"
        path.write_text("secret: one\n")
        os.chmod(path, 0o600)
        write_atomic(path, "secret: two\n")
        prev = path.with_name(path.name + ".prev")
        assert prev.read_text() == "secret: one\n"
        assert stat.S_IMODE(prev.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
        os.chmod(prev, 0o666)                       # an existing backup is tightened as well
        write_atomic(path, "secret: three\n")
        assert stat.S_IMODE(prev.stat().st_mode) == 0o600
    finally:
        os.umask(old)
