"""`hotline ivr validate|simulate|diff` through `register` on a fresh parser, and the key script."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hotline.cli_ivr import register
from ivr.engine import GetDigits
from ivr.loader import load_file
from ivr.simulate import KeyScript, facts_for, parse_at, simulate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DEFAULT = str(ROOT / "config" / "ivr" / "zhuzhou.yaml")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="hotline")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_validate_valid_tree(capsys):
    rc, out, err = run(["ivr", "validate", DEFAULT], capsys)
    assert rc == 0 and out == "" and err == ""


def test_validate_prints_one_line_per_problem(capsys):
    rc, out, _ = run(["ivr", "validate", str(DATA / "ivr" / "five_problems.yaml")], capsys)
    lines = out.splitlines()
    assert rc == 1 and len(lines) == 5
    assert any(line.startswith("nodes.menu.options.2: unknown node 'enterprize_q'") for line in lines)
    assert all(": " in line for line in lines)


def test_validate_json(capsys):
    rc, out, _ = run(["ivr", "validate", str(DATA / "ivr" / "five_problems.yaml"), "--json"], capsys)
    problems = json.loads(out)
    assert rc == 1 and len(problems) == 5
    assert {"path": "nodes.orphan", "code": "unreachable"}.items() <= problems[-1].items()
    rc, out, _ = run(["ivr", "validate", DEFAULT, "--json"], capsys)
    assert rc == 0 and json.loads(out) == []


def test_validate_syntax_error_and_size_limit(capsys, tmp_path):
    rc, out, _ = run(["ivr", "validate", str(DATA / "ivr" / "syntax_error.yaml")], capsys)
    assert rc == 1 and "line 6, column 8" in out
    rc, out, _ = run(["ivr", "validate", DEFAULT, "--max-bytes", "100"], capsys)
    assert rc == 1 and "limit" in out


def test_validate_uses_base_dir(capsys, tmp_path):
    copy = tmp_path / "tree.yaml"
    copy.write_text(Path(DEFAULT).read_text(encoding="utf-8"), encoding="utf-8")
    rc, out, _ = run(["ivr", "validate", str(copy)], capsys)
    assert rc == 1 and "lists.deputies: list file not found" in out
    rc, out, _ = run(["ivr", "validate", str(copy), "--base-dir", str(ROOT / "config")], capsys)
    assert rc == 0


@pytest.mark.parametrize("argv, outcome, path_tail", [
    (["--caller", "13800001001"], {"type": "queue", "lane": "deputy"}, ["start", "deputy_q"]),
    (["--caller", "13912345678", "--did", "12345001"], {"type": "queue", "lane": "deputy"}, ["start", "deputy_q"]),
    (["--caller", "13912345678", "--keys", "2", "--at", "2024-03-05T10:00"],
     {"type": "queue", "lane": "enterprise"}, ["menu", "ent_hours", "enterprise_q"]),
    (["--caller", "13912345678", "--keys", "2", "--at", "2024-03-03T10:00"],
     {"type": "queue", "lane": "general"}, ["ent_hours", "general_q"]),
    (["--caller", "13912345678", "--keys", "2", "--at", "2024-02-04T10:00"],
     {"type": "queue", "lane": "enterprise"}, ["enterprise_q"]),
    (["--caller", "13912345678", "--keys", "2", "--at", "2024-10-01T10:00"],
     {"type": "queue", "lane": "general"}, ["general_q"]),
    (["--caller", "13912345678", "--keys", "2", "--at", "2024-03-05T02:00:00+00:00"],
     {"type": "queue", "lane": "enterprise"}, ["enterprise_q"]),
    (["--caller", "13912345678"], {"type": "queue", "lane": "general"}, ["welcome", "menu", "general_q"]),
    (["--caller", "13912345678", "--keys", "52", "--at", "2024-03-05T10:00"],
     {"type": "queue", "lane": "enterprise"}, ["menu", "ent_hours", "enterprise_q"]),
])
def test_simulate_default_tree(capsys, argv, outcome, path_tail):
    rc, out, err = run(["ivr", "simulate", DEFAULT, *argv], capsys)
    assert rc == 0, err
    result = json.loads(out)
    assert result["outcome"] == outcome
    assert result["path"][0] == "start" and result["path"][-len(path_tail):] == path_tail


def test_simulate_transfer_and_hangup_outcomes(capsys):
    tree = str(DATA / "ivr" / "all_types.yaml")
    rc, out, _ = run(["ivr", "simulate", tree, "--caller", "13912345678", "--keys", "9",
                      "--at", "2024-03-05T10:00"], capsys)
    assert rc == 0 and json.loads(out)["outcome"] == {"type": "transfer", "number": "12366", "mode": "blind"}
    rc, out, _ = run(["ivr", "simulate", tree, "--caller", "anonymous"], capsys)
    assert rc == 0 and json.loads(out) == {"path": ["start", "bye"], "outcome": {"type": "hangup"},
                                           "notes": ["start: check 1 (anonymous) matched"]}
    rc, out, _ = run(["ivr", "simulate", tree, "--caller", "13912345678", "--keys", "1,20240101#",
                      "--at", "2024-03-05T10:00"], capsys)
    result = json.loads(out)
    assert result["vars"] == {"ticket_no": "20240101"} and result["outcome"]["lane"] == "general"


def test_simulate_invalid_tree_and_bad_arguments(capsys):
    rc, out, err = run(["ivr", "simulate", str(DATA / "ivr" / "five_problems.yaml"), "--caller", "1"], capsys)
    assert rc == 1 and out == "" and len(err.splitlines()) == 5
    rc, _, err = run(["ivr", "simulate", DEFAULT, "--caller", "13912345678", "--at", "yesterday"], capsys)
    assert rc == 2 and "--at" in err
    rc, _, err = run(["ivr", "simulate", DEFAULT, "--caller", "13912345678", "--keys", "2x"], capsys)
    assert rc == 2 and "--keys" in err


def test_diff_command(capsys, tmp_path):
    new = tmp_path / "ivr" / "new.yaml"
    new.parent.mkdir()
    new.write_text(Path(DEFAULT).read_text(encoding="utf-8").replace("timeout_s: 4", "timeout_s: 6"),
                   encoding="utf-8")
    base = ["--base-dir", str(ROOT / "config")]
    rc, out, _ = run(["ivr", "diff", DEFAULT, str(new), *base], capsys)
    assert rc == 0 and out.strip() == "nodes.menu.timeout_s: 4 -> 6"
    rc, out, _ = run(["ivr", "diff", DEFAULT, str(new), "--json", *base], capsys)
    assert json.loads(out)["nodes"]["changed"]["menu"]["fields"]["timeout_s"] == {"old": 4, "new": 6}


# ---------------------------------------------------------------- the key script


def digits(max_digits=1, terminator=""):
    return GetDigits((), max_digits, 5, "n", terminator)


def test_key_script_one_prompt_at_a_time():
    s = KeyScript("52")
    assert [s.answer(digits()), s.answer(digits()), s.answer(digits())] == ["5", "2", ""]
    s = KeyScript("1234#9")
    assert s.answer(digits(12, "#")) == "1234#" and s.answer(digits()) == "9"
    s = KeyScript("12345")
    assert s.answer(digits(3, "#")) == "123" and s.answer(digits(2)) == "45"
    s = KeyScript("9,,2")
    assert [s.answer(digits()), s.answer(digits()), s.answer(digits()), s.answer(digits())] == ["9", "", "2", ""]
    with pytest.raises(ValueError):
        KeyScript("2a")


def test_simulate_api_and_parse_at():
    loaded = load_file(DEFAULT)
    tree = loaded.tree
    at = parse_at("2024-03-05T10:00", tree.timezone)
    assert at.utcoffset().total_seconds() == 8 * 3600
    sim = simulate(tree, facts_for(tree, caller="+86 138 0000 1002", lists=loaded.lists, at=at), "")
    assert sim.to_dict()["outcome"]["lane"] == "deputy"
    assert parse_at(None, tree.timezone).tzinfo is not None
