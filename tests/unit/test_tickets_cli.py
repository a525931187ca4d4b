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
    code, out, _ = run(["tickets", "extract", "--full"], b"Hello")
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


def test_extract_takes_two_speaker_text():
    text = ("话务员：您好，12345热线，请问有什么可以帮您？\n"
            "来电人：我要投诉，芦淞区建宁街道有个工地拖欠我们工资三个月了。\n"
            "话务员：您贵姓？电话多少？\n来电人：我叫 陈 志强，电话 一 五 零 七 四 一 二 二 三 六 九。\n"
            "话务员：15074122369，对吗？\n来电人：对。").encode()
    code, out, _ = run(["tickets", "extract"], text)
    d = json.loads(out)
    assert code == 0 and d["category"][0] == "人力资源社会保障" and d["appeal_type"] in ("投诉", "求助")
    assert (d["caller_name"], d["callback_number"], d["district"]) == ("陈志强", "15074122369", "芦淞区")
    assert d["emergency"] is None and d["alert"] is None


def test_eval_reports_confusion_and_emergency_recall_precision():
    code, out, _ = run(["tickets", "eval", str(DATA), "--model", "off"])
    d = json.loads(out)
    assert code == 0 and set(d["emergency"]) >= {"recall", "precision", "expected", "raised"}
    assert d["emergency"]["expected"] > 0 and 0 < d["emergency"]["recall"] <= 1
    conf = d["category_confusion"]
    assert sum(n for row in conf.values() for n in row.values()) == d["counts"]["category_l1"]["total"]
    code, table, _ = run(["tickets", "eval", str(DATA), "--table", "--model", "off"])
    assert code == 0 and "emergency recall" in table and "confusion" in table and "category_l1" in table
    code, _, err = run(["tickets", "eval", str(DATA), "--model", "v9999"])
    assert code == 1 and "v9999" in err


def test_model_list_and_use_through_the_cli(tmp_path, monkeypatch):
    from itertools import islice

    from tickets import learned

    monkeypatch.setenv("HOTLINE_TICKETS_MODEL_DIR", str(tmp_path))
    model = learned.train(list(islice(learned.cases_from_files([learned.DATA / "tickets_train.jsonl"]), 200)),
                          version="v0001")
    learned.save(model, tmp_path)
    learned.save(learned.LearnedModel(model.vectorizer, model.classifiers, {**model.meta, "version": "v0002"}), tmp_path)
    code, out, _ = run(["tickets", "model", "use", "v0002"])
    assert code == 0 and learned.current_version(tmp_path) == "v0002"
    code, out, _ = run(["tickets", "model", "list"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["version"], r["current"]) for r in rows] == [("v0001", False), ("v0002", True)]
    code, _, err = run(["tickets", "model", "use", "v0007"])
    assert code == 1 and "v0007" in err and learned.current_version(tmp_path) == "v0002"
