"""`hotline tickets extract|eval` through the parser, and once as a real process."""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path


from hotline import cli_tickets
from tickets.model import CONTRACT_KEYS

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data" / "tickets_eval.jsonl"


def run(argv, stdin=b""):
    parser = argparse.ArgumentParser(prog="hotline")
    cli_tickets.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    if args.func is cli_tickets.cmd_extract:
        code = args.func(args, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    else:
        code = args.func(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_extract_prints_the_contract():
    code, out, _ = run(["tickets", "extract"], "我 姓 王 我们 河塘区 小区 物业 不 管事\n".encode())
    assert code == 0
    draft = json.loads(out)
    assert list(draft) == list(CONTRACT_KEYS)
    assert draft["district"] == "荷塘区" and draft["caller_name"] == "王"


def test_extract_full_adds_evidence_and_reasons():
    code, out, _ = run(["tickets", "extract", "--full"], "Hello".encode())
    draft = json.loads(out)
    assert code == 0 and draft["reasons"] and draft["evidence"] == {}


def test_extract_jsonl_keeps_ids_and_reports_bad_lines():
    lines = [
        json.dumps({"id": "a1", "transcript": "我 要 举报 攸县 有 人 赌博"}, ensure_ascii=False),
        "this is not json",
        json.dumps({"id": 7, "transcript": "整栋 楼 停电 了"}, ensure_ascii=False),
        json.dumps({"id": "x"}),
        "",
    ]
    code, out, _ = run(["tickets", "extract", "--jsonl"], "\n".join(lines).encode())
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1                                            # some lines were bad
    assert [r["id"] for r in rows] == ["a1", None, 7, "x"]
    assert rows[0]["district"] == "攸县" and rows[2]["urgency"] == "紧急"
    assert rows[1]["error"]["line"] == 2 and "error" in rows[3]


def test_eval_prints_accuracy():
    code, out, _ = run(["tickets", "eval", str(DATA), "--split", "holdout"])
    report = json.loads(out)
    assert code == 0 and report["cases"] >= 30
    assert set(report["accuracy"]) >= {"appeal_type", "category_l1", "district", "callback_number"}


def test_eval_bad_file_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    code, out, err = run(["tickets", "eval", str(bad)])
    assert code != 0 and out == "" and "bad.jsonl:1" in err
    code, _, err = run(["tickets", "eval", str(tmp_path / "missing.jsonl")])
    assert code != 0 and "cannot read" in err


def test_bad_rules_folder_exits_non_zero(tmp_path):
    code, _, err = run(["tickets", "extract", "--rules", str(tmp_path)], b"x")
    assert code == cli_tickets.EXIT_BAD_CONFIG and "cannot read" in err


def test_real_process_is_quiet_on_stderr():
    proc = subprocess.run(
        [sys.executable, "-m", "hotline.cli_tickets", "tickets", "extract"],
        input="喂 你好 我 是 六口区 的 电话 幺 三 九 七 三 三 幺 五 六 八 八".encode(),
        capture_output=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    draft = json.loads(proc.stdout)
    assert draft["district"] == "渌口区" and draft["callback_number"] == "13973315688"
