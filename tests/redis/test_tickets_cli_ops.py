"""`hotline tickets export | dead-letters | redrive` against a real Redis, found
the way the commands find a running hotline (its run folder's ready.json)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.cli_tickets import WhenError, parse_since
from tickets.outbox import Outbox
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
CALL = "我 要 投诉 荷塘区 月塘 街道 一个 烧烤店 每天 晚上 吵 到 凌晨 我 姓 王 电话 幺 三 八 零 零 零 零 幺 二 三 四"


@pytest.fixture
def run_folder(tmp_path, redis_server) -> Path:
    """What `hotline up` leaves for the other commands: ready.json naming Redis and a live controller."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "ready.json").write_text(json.dumps({"redis": redis_server.url, "pids": {"controller": os.getpid()}}))
    return folder


async def hotline(*args: str, stdout=None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "tickets", *args, cwd=REPO,
        stdout=stdout if stdout is not None else asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, (out or b"").decode(), err.decode()


async def test_export_writes_json_lines_since_a_day_a_time_or_an_age(redis_client, run_folder, tmp_path):
    now = time.time()
    store = TicketStore(redis_client)
    old = await store.create_draft("call-old", "13800001234", CALL, received_at=now - 3 * 86400)
    recent = await store.create_draft("call-recent", "13900001111", CALL, received_at=now - 3600)
    fresh = await store.create_draft("call-fresh", "13700002222", "我 想 咨询 社保卡", received_at=now - 60)

    out_file = tmp_path / "tickets.jsonl"
    with out_file.open("wb") as fh:                       # `hotline tickets export --since 7d > file`
        code, _, err = await hotline("export", "--since", "7d", "--run", str(run_folder), stdout=fh)
    assert code == 0, err
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [old.id, recent.id, fresh.id]          # oldest first, all of them
    assert rows[0]["caller"] == "13800001234" and rows[0]["draft"]["district"] == "荷塘区"
    assert rows[0]["transcript"] == CALL
    assert "3 ticket(s)" in err

    code, out, _ = await hotline("export", "--since", "2h", "--run", str(run_folder))
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == [recent.id, fresh.id]
    since = datetime.fromtimestamp(now - 120, TZ).isoformat(timespec="seconds")
    code, out, _ = await hotline("export", "--since", since, "--mask", "--run", str(run_folder))
    (row,) = [json.loads(x) for x in out.splitlines()]
    assert row["id"] == fresh.id and row["caller"] != "13700002222" and row["transcript"] is None
    day = datetime.fromtimestamp(now - 3 * 86400, TZ).date()
    code, out, _ = await hotline("export", "--since", day.isoformat(), "--until", day.isoformat(),
                                 "--run", str(run_folder))
    assert [json.loads(x)["id"] for x in out.splitlines()] == [old.id]

    code, out, err = await hotline("export", "--since", "last tuesday", "--run", str(run_folder))
    assert code == 1 and out == "" and "--since 'last tuesday'" in err


async def test_dead_letters_are_listed_and_redriven_one_or_all(redis_client, run_folder):
    store, outbox = TicketStore(redis_client), Outbox(redis_client)
    await outbox.ensure_group()
    ids = []
    for i in range(3):
        t = await store.create_draft(f"call-{i}", "13800001234", CALL)
        await store.confirm(t.id, "op1", {})
        ids.append(t.id)
    for delivery in await outbox.read_new("w1", 10, None):
        await outbox.finish(delivery, "dead", time.time(), "HTTP 400: rejected")
    code, out, err = await hotline("dead-letters", "--run", str(run_folder))
    assert code == 0, err
    dead = [json.loads(x) for x in out.splitlines()]
    assert [d["ticket_id"] for d in dead] == ids
    assert all(d["reason"] == "HTTP 400: rejected" and d["attempts"] >= 0 and "T" in d["at"] for d in dead)

    code, out, err = await hotline("redrive", ids[1], "--run", str(run_folder))
    assert code == 0 and json.loads(out) == {"redriven": [ids[1]]}, err
    assert [d.ticket_id for d in await outbox.dead_letters()] == [ids[0], ids[2]]
    assert (await store.get(ids[1])).status == "confirmed"
    (again,) = await outbox.read_new("w1", 10, None)                   # back on the outbox for the worker
    assert again.ticket_id == ids[1]

    code, out, err = await hotline("redrive", ids[1], "--run", str(run_folder))      # not dead any more
    assert code == 1 and json.loads(out) == {"redriven": []} and "not in the dead-letter list" in err
    code, out, _ = await hotline("redrive", "--all", "--run", str(run_folder))
    assert code == 0 and sorted(json.loads(out)["redriven"]) == sorted([ids[0], ids[2]])
    code, out, _ = await hotline("dead-letters", "--run", str(run_folder))
    assert code == 0 and out == ""
    assert sorted(d.ticket_id for d in await outbox.read_new("w1", 10, None)) == sorted([ids[0], ids[2]])


async def test_without_a_running_hotline_the_commands_say_so(tmp_path):
    for args in (("export",), ("dead-letters",), ("redrive", "--all")):
        code, out, err = await hotline(*args, "--run", str(tmp_path / "nothing"))
        assert code == 2 and out == "" and "no running hotline" in err, (args, err)


def test_parse_since():
    now = datetime(2026, 12, 1, 10, 0, tzinfo=TZ).timestamp()
    assert parse_since(None, TZ, now) == (datetime(2026, 12, 1).date(), None)
    assert parse_since("20261125", TZ, now) == (datetime(2026, 11, 25).date(), None)
    assert parse_since("36h", TZ, now) == (datetime(2026, 11, 29).date(), now - 36 * 3600)
    day, after = parse_since("2026-11-30T08:00", TZ, now)
    assert day == datetime(2026, 11, 30).date() and after == datetime(2026, 11, 30, 8, tzinfo=TZ).timestamp()
    day, after = parse_since("2026-11-30T23:30:00+00:00", TZ, now)        # an offset: that instant, local day
    assert day == datetime(2026, 12, 1).date()
    with pytest.raises(WhenError):
        parse_since("yesterday", TZ, now)


@pytest.mark.slow
async def test_train_learns_from_the_running_hotlines_confirmed_tickets(redis_client, run_folder, tmp_path):
    store = TicketStore(redis_client)
    now = time.time()
    for i in range(6):
        t = await store.create_draft(f"call-train-{i}", "13800001234", CALL, received_at=now - 600 + i)
        await store.confirm(t.id, "op07", {"appeal_type": "投诉", "category": ["城市管理", "噪音扰民"]})
    await store.create_draft("call-train-draft", "13800001234", CALL, received_at=now)   # not confirmed: left out
    models = tmp_path / "models"
    env = {**os.environ, "HOTLINE_TICKETS_MODEL_DIR": str(models)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "tickets", "train", "--redis", "--since", "1d", "--run", str(run_folder),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, err.decode()
    outcome = json.loads(out)
    assert outcome["site_cases"] == 6 and outcome["version"] == "v0001" and outcome["kept"]
    assert outcome["heldout_cases"] > 1000 and 0 < outcome["new"]["mean"] <= 1
    assert (models / "current").read_text().strip() == "v0001"
    assert oct((models / "v0001.pkl").stat().st_mode & 0o777) == "0o600"
