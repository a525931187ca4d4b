"""The system of record on live calls (issue 15), against the real Asterisk, Redis and the private
PostgreSQL the harness starts: a call answered by a real SIP softphone (baresip) leaves a call
record, Asterisk's CDR row and CEL events, joined by call id; PostgreSQL stopped under calls holds
no call up and loses no record; Redis flushed and the hotline restarted keeps every earlier
ticket and call record listed."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from records.reconcile import reconcile
from records.store import call_with_asterisk
from tests.e2e.test_routing_calls import (  # noqa: F401  (routing: the fixture)
    VENV_BIN, Events, _start_up, _stop_group, arrange, call, netstring, new_number, routing, until)

pytestmark = pytest.mark.asterisk
TZ = ZoneInfo("Asia/Shanghai")


async def _records_of(stack, call_id: str, want_cdr: bool = True) -> dict:
    """The call's record with its CDR and CEL, once the spool and Asterisk have written them."""
    writer = stack.records.writer
    last: list = [None]

    async def found():
        await writer.drain(5)
        async with stack.records.db.pool.acquire() as conn:
            rec = last[0] = await call_with_asterisk(conn, call_id)
        if rec is None or rec["ended_at"] is None:
            return None
        if want_cdr and (not rec["cdr"] or not any(e["eventtype"] == "LINKEDID_END" for e in rec["cel"])):
            return None
        return rec
    try:
        return await until(found, 20, f"the records of call {call_id}", every=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {last[0]}") from None


def _baresip(tmp_path: Path, stack, seat: str) -> tuple[subprocess.Popen, int, object]:
    from agents.secrets import seat_credentials
    from hotline.app import data_dir
    from hotline.procs import free_port, free_ports

    exe = shutil.which("baresip")
    if exe is None:
        pytest.skip("baresip is not installed (scripts/setup installs it)")
    username, secret = seat_credentials(stack.services["seats_config"], data_dir(stack.settings))[seat]
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth", "20", "sine", "440",
                    "vol", "0.5"], check=True)
    folder = tmp_path / "baresip"
    folder.mkdir()
    sip_port, ctrl_port = free_ports(1)[0], free_port()
    (folder / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_source aufile,{tone}
audio_player aufile,/dev/null
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
""")
    (folder / "accounts").write_text(
        f"<sip:{username}@127.0.0.1:{stack.asterisk.ports.sip}>;auth_pass={secret};answermode=auto;regint=60\n")
    log = open(tmp_path / "baresip.log", "wb")
    phone = subprocess.Popen([exe, "-f", str(folder)], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    return phone, ctrl_port, log


async def test_a_call_answered_on_a_sip_phone_leaves_call_record_cdr_and_cel_joined(routing, tmp_path):
    stack = routing
    phone, ctrl_port, log = _baresip(tmp_path, stack, "1005")
    try:
        async def registered():
            return "1005/sip:" in (await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or "")
        await until(registered, 15, "baresip to register seat 1005", every=0.3)
        await arrange(stack, ready=[])
        await stack.services["seats"].login("1005", "8005")
        ev = Events(stack)
        await ev.mark()
        number = new_number()
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await ev.call_id(number)
        await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid, 15, "baresip to answer")
        await asyncio.sleep(2)
        await netstring("127.0.0.1", ctrl_port, {"command": "hangup", "token": "e2e"})
        result, _ = await placed
    finally:
        phone.terminate()
        try:
            phone.wait(5)
        except subprocess.TimeoutExpired:
            phone.kill()
            phone.wait(5)
        log.close()
        await stack.services["seats"].logout("1005")
    assert result.completed
    rec = await _records_of(stack, cid)
    assert rec["seat"] == "1005" and rec["lane"] == "general" and rec["caller"] == number
    assert rec["path"][-1] == "bye" and rec["wait_s"] is not None and rec["recording"]
    # Asterisk's own CDR: the caller's leg bridged to the softphone's PJSIP channel, answered
    bridged = [c for c in rec["cdr"] if c["dstchannel"].startswith("PJSIP/1005")]
    assert bridged and bridged[0]["disposition"] == "ANSWERED" and bridged[0]["billsec"] >= 1, rec["cdr"]
    assert any(c["uniqueid"] == cid for c in rec["cdr"])
    kinds = [e["eventtype"] for e in rec["cel"]]
    assert {"CHAN_START", "ANSWER", "BRIDGE_ENTER", "HANGUP", "CHAN_END", "LINKEDID_END"} <= set(kinds)
    assert any(e["channame"].startswith("PJSIP/1005") for e in rec["cel"])   # the SIP phone's channel too
    assert len({e["linkedid"] for e in rec["cel"]}) == 1
    # seat history: the login and logout of 1005 by operator 8005
    await stack.records.writer.drain(5)
    async with stack.records.db.pool.acquire() as conn:
        hist = await conn.fetch("SELECT event, operator FROM seat_history WHERE seat = '1005' ORDER BY at")
        report = await reconcile(conn, datetime.now(TZ).date(), TZ)
    assert [(h["event"], h["operator"]) for h in hist][-2:] == [("login", "8005"), ("logout", "8005")]
    assert cid not in report["calls_without_cdr"] and cid not in report["answered_without_cdr_answer"]
    assert report["answered"] >= 1 and report["cdr_answered_calls"] >= 1
    # the operator confirms the call's draft: the ticket, its correction and its outbox row in PostgreSQL
    tickets = stack.services["tickets"]                  # the product's store, wired to the records
    draft = await tickets.get_by_call(cid) or await tickets.create_draft(cid, number, "芦淞区建设路路灯坏了。")
    confirmed = await tickets.confirm(draft.id, "8005", {"district": "芦淞区"})
    await stack.records.writer.drain(5)
    async with stack.records.db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, call_id, district FROM tickets WHERE id = $1", confirmed.id)
        corr = await conn.fetch("SELECT field FROM ticket_corrections WHERE ticket_id = $1", confirmed.id)
        box = await conn.fetchrow("SELECT state, work_order FROM handoff_outbox WHERE ticket_id = $1", confirmed.id)
    assert dict(row) == {"status": "confirmed", "call_id": cid, "district": "芦淞区"}
    assert "district" in {c["field"] for c in corr}
    assert box["state"] == "queued" and box["work_order"]["call_id"] == cid


async def test_postgresql_stopped_under_calls_holds_no_call_and_loses_no_record(routing, caplog):
    stack = routing
    server, writer = stack.records.server, stack.records.writer
    await arrange(stack, ready=["1001", "1002"])
    caplog.set_level(logging.WARNING, logger="records.writer")
    await asyncio.to_thread(server.stop)
    try:
        numbers = [new_number() for _ in range(3)]
        ev = Events(stack)
        await ev.mark()
        placed = [asyncio.ensure_future(call(stack, caller=n)) for n in numbers]
        ids = [await ev.call_id(n, timeout=30) for n in numbers]
        results = await asyncio.gather(*placed)
        assert len(stack.records.spool) > 0 and writer.outage_since is not None
    finally:
        await asyncio.to_thread(server.start)
    for result, rec in results:                      # the calls went on: answered by a seat, ended
        assert result.completed and rec["seat"] in ("1001", "1002") and rec.get("answered"), rec
    assert await writer.drain(30), f"{len(stack.records.spool)} record(s) still spooled"
    unavailable = [r for r in caplog.records if "PostgreSQL unavailable" in r.getMessage()]
    assert len(unavailable) == 1                     # the error logged once, not per record or retry
    assert any("PostgreSQL back" in r.getMessage() for r in caplog.records)
    async with stack.records.db.pool.acquire() as conn:
        rows = {r["call_id"]: r for r in await conn.fetch(
            "SELECT call_id, caller, seat, status, ended_at FROM call_records WHERE call_id = ANY($1::text[])", ids)}
    assert set(rows) == set(ids)
    for cid, n in zip(ids, numbers):
        assert rows[cid]["caller"] == n and rows[cid]["seat"] in ("1001", "1002") and rows[cid]["ended_at"]


def _hotline(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "hotline"), *args], capture_output=True, text=True, timeout=timeout)


def _stop_up(proc: subprocess.Popen, info: dict) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    for name in ("asterisk", "redis", "postgres"):
        _stop_group(info.get("pids", {}).get(name))


async def test_redis_flushed_and_hotline_restarted_keeps_every_ticket_and_call_record(tmp_path):
    import redis.asyncio as aioredis

    pg_dir = Path(tempfile.mkdtemp(prefix="hotline-pg-e2e-"))
    os.chmod(pg_dir, 0o711)
    os.environ["HOTLINE__DATABASE__DATA_DIR"] = str(pg_dir / "postgres")
    proc = info = None
    try:
        proc, info = await asyncio.to_thread(_start_up, tmp_path, 2)
        first = _hotline("call", "--run", info["run"], "--caller", new_number(), "--keys", "0,1", timeout=150)
        assert first.returncode == 0, first.stderr[-2000:]
        one = json.loads(first.stdout)
        assert one.get("seat") and one.get("ticket"), one
        redis = aioredis.from_url(info["redis"], decode_responses=True)
        assert await redis.exists(f"tickets:t:{one['ticket']}")
        await asyncio.sleep(1)                        # the spool's writer is idle-woken within a second
        await redis.flushall()                        # Redis lost: live state and its copy of the records
        await redis.aclose()
        await asyncio.to_thread(_stop_up, proc, info)
        proc, info = await asyncio.to_thread(_start_up, tmp_path, 2)
        redis = aioredis.from_url(info["redis"], decode_responses=True)
        assert not await redis.exists(f"tickets:t:{one['ticket']}")           # Redis really is empty of it
        await redis.aclose()

        export = _hotline("tickets", "export", "--run", info["run"])
        assert export.returncode == 0, export.stderr
        listed = [json.loads(x) for x in export.stdout.splitlines()]
        assert one["ticket"] in {t["id"] for t in listed}, export.stderr
        day = datetime.now(TZ).date().isoformat()
        records = _hotline("calls", "records", "--run", info["run"], "--day", day)
        assert records.returncode == 0, records.stderr
        calls = [json.loads(x) for x in records.stdout.splitlines()]
        assert any(c["ticket_id"] == one["ticket"] and c["seat"] == one["seat"] for c in calls), calls

        second = _hotline("call", "--run", info["run"], "--caller", new_number(), "--keys", "0,1", timeout=150)
        assert second.returncode == 0, second.stderr[-2000:]
        two = json.loads(second.stdout)
        assert two.get("seat"), two                                # new calls routed on the rebuilt state
        assert two["ticket"] and two["ticket"] != one["ticket"]    # no ticket number given twice
        await asyncio.sleep(1.5)                                   # the second call's last record written
        rec = _hotline("calls", "reconcile", "--run", info["run"], "--day", day)
        report = json.loads(rec.stdout)
        assert rec.returncode == 0 and report["ok"], report        # every call has its CDR rows
        assert report["calls"] >= 2 and report["answered"] == report["cdr_answered_calls"] >= 2
    finally:
        os.environ.pop("HOTLINE__DATABASE__DATA_DIR", None)
        if proc is not None:
            await asyncio.to_thread(_stop_up, proc, info or {})
        shutil.rmtree(pg_dir, ignore_errors=True)
