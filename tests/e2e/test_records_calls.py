"""The system of record on live calls (issue 15), against the real Asterisk, Redis and the private
PostgreSQL the harness starts: a call answered by a real SIP softphone (baresip) leaves a call
record, Asterisk's CDR row and CEL events, joined by call id; PostgreSQL stopped under calls holds
no call up and loses no record; Redis flushed and the hotline restarted keeps every earlier
ticket and call record listed."""
from __future__ import annotations

import asyncio
import contextlib
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

from devstack.sipp import baresip_config, free_udp_tcp_port
from records.reconcile import reconcile
from records.store import call_with_asterisk
from tests.e2e.test_routing_calls import (  # noqa: F401  (routing: the fixture)
    VENV_BIN,
    Events,
    _start_up,
    _stop_group,
    arrange,
    call,
    netstring,
    new_number,
    routing,
    stop_phone,
    until,
)

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
    from devstack.procs import free_port
    from hotline.app import data_dir

    exe = shutil.which("baresip")
    if exe is None:
        pytest.skip("baresip is not installed (scripts/setup installs it)")
    username, secret = seat_credentials(stack.hotline.routing.config, data_dir(stack.settings))[seat]
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone), "synth", "20", "sine", "440",
                    "vol", "0.5"], check=True)
    folder = tmp_path / "baresip"
    folder.mkdir()
    sip_port, ctrl_port = free_udp_tcp_port(), free_port()
    (folder / "config").write_text(baresip_config("127.0.0.1", sip_port, ctrl_port, tone))
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
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        await arrange(stack, ready=[])
        await stack.hotline.routing.seats.login("1005", "8005")
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
        stop_phone(phone, log)
        await stack.hotline.routing.seats.logout("1005")
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
    tickets = stack.hotline.tickets.store                  # the product's store, wired to the records
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
    # Asterisk's own CDR and CEL of those calls: cdr_pgsql / cel_pgsql dropped them (no buffer) ...
    async with stack.records.db.pool.acquire() as conn:
        lost = [await call_with_asterisk(conn, cid) for cid in ids]
    assert all(not r["cdr"] and not r["cel"] for r in lost), [r["cdr"] for r in lost]
    # ... and the backfill (at start, every minute, `hotline calls reconcile`) adds them from the CSV copy
    added = await stack.records.backfill_asterisk(settle_s=0)
    assert added["cdr_added"] >= len(ids) and added["cel_added"] >= 5 * len(ids), added
    async with stack.records.db.pool.acquire() as conn:
        for cid in ids:
            rec = await call_with_asterisk(conn, cid)
            assert any(c["uniqueid"] == cid for c in rec["cdr"]), rec["cdr"]
            assert any(c["disposition"] == "ANSWERED" and c["dstchannel"] for c in rec["cdr"]), rec["cdr"]
            kinds = {e["eventtype"] for e in rec["cel"]}
            assert {"CHAN_START", "ANSWER", "HANGUP", "CHAN_END", "LINKEDID_END"} <= kinds, kinds
        report = await reconcile(conn, datetime.now(TZ).date(), TZ)
        doubled_cdr = await conn.fetchval("SELECT count(*) FROM (SELECT uniqueid, sequence FROM cdr "
                                          "GROUP BY 1, 2 HAVING count(*) > 1) d")
        doubled_cel = await conn.fetchval("SELECT count(*) FROM (SELECT uniqueid, eventtype, eventtime FROM cel "
                                          "GROUP BY 1, 2, 3 HAVING count(*) > 1) d")
    assert not set(ids) & set(report["calls_without_cdr"] + report["answered_without_cdr_answer"]), report
    assert doubled_cdr == 0 and doubled_cel == 0          # rows cdr_pgsql did write are never added again
    again = await stack.records.backfill_asterisk(settle_s=0)
    assert again["cdr_added"] == 0 and again["cel_added"] == 0, again


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


async def _confirm_in_the_console(stack, ticket_id: str, fields: dict):
    """POST /api/tickets/{id}/confirm, as the console does, by a supervisor (an operator may confirm only
    while the routing engine still has the call as theirs; this call is over)."""
    import aiohttp

    from web.accounts import AccountError, Role
    from web.keys import ACCOUNTS, CONFIG

    app = stack.web_runner.app
    with contextlib.suppress(AccountError):
        await app[ACCOUNTS].create("rec-sup", "rec-sup-pass-1", Role.SUPERVISOR, "班长")
    url = f"http://{stack.settings.web.host or stack.settings.network.host}:{stack.web_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.post(f"{url}/api/login", json={"username": "rec-sup", "password": "rec-sup-pass-1"}) as r:
            assert r.status == 200, await r.text()
            csrf, cookie = (await r.json())["csrf_token"], r.cookies[app[CONFIG].cookie].value
        headers = {"Cookie": f"{app[CONFIG].cookie}={cookie}", "X-CSRF-Token": csrf}
        async with http.post(f"{url}/api/tickets/{ticket_id}/confirm", json={"fields": fields}, headers=headers) as r:
            assert r.status == 200, await r.text()
    return await stack.hotline.tickets.store.get(ticket_id)


async def test_the_hand_off_worker_of_hotline_up_delivers_a_confirmed_call_ticket_exactly_once(routing, tmp_path):
    """The worker `hotline up` starts (hotline.features.tickets.handoff_worker, here given a hand-off file with the
    url of a work-order system on 127.0.0.1): the ticket of a real call, confirmed in the console
    (its HTTP API), is POSTed once,
    the records' outbox row is handed_off, and the ticket in PostgreSQL too."""
    import dataclasses

    from hotline.features.tickets import handoff_worker
    from hotline.settings import TicketsSection
    from tests.redis.test_tickets_handoff import Receiver
    from tickets.handoff import HandoffWorker

    stack = routing
    assert isinstance(stack.hotline.tickets.handoff, HandoffWorker)     # the tickets feature has one (no url: off)
    assert not stack.hotline.tickets.handoff.config.enabled
    assert "ticket-handoff" in [t.get_name() for t in stack.tasks]
    receiver = Receiver()
    await receiver.start()
    (tmp_path / "handoff.yaml").write_text(f"url: {receiver.url}\npoll_s: 0.2\n")
    settings, worker_task = stack.settings, None
    try:
        await arrange(stack, ready=["1001"])
        number = new_number()
        ev = Events(stack)
        await ev.mark()
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await ev.call_id(number)
        result, _ = await placed
        assert result.completed
        tickets = stack.hotline.tickets.store
        draft = await tickets.get_by_call(cid) or await tickets.create_draft(cid, number, "芦淞区建设路路灯坏了。")
        confirmed = await _confirm_in_the_console(stack, draft.id, {"urgency": "紧急"})
        stack.settings = dataclasses.replace(settings, tickets=TicketsSection(handoff=str(tmp_path / "handoff.yaml")))
        worker = handoff_worker(stack.settings, stack.redis, stack.node, tickets)
        assert worker.config.url == receiver.url
        worker_task = asyncio.create_task(worker.run(), name="ticket-handoff")

        async def handed_off():
            await stack.records.writer.drain(5)
            async with stack.records.db.pool.acquire() as conn:
                row = await conn.fetchrow("SELECT o.state, o.attempts, o.delivered_at, t.status FROM handoff_outbox o "
                                          "JOIN tickets t ON t.id = o.ticket_id WHERE o.ticket_id = $1", confirmed.id)
            return row if row is not None and row["state"] == "handed_off" else None
        row = await until(handed_off, 30, f"ticket {confirmed.id} handed off", every=0.3)
        await asyncio.sleep(1)                                  # a second delivery would come by now
    finally:
        stack.settings = settings
        if worker_task is not None:
            worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
        await receiver.stop()
    assert row["status"] == "handed_off" and row["attempts"] == 1 and row["delivered_at"] is not None
    async with stack.records.db.pool.acquire() as conn:          # the console's confirm: its correction too
        corr = await conn.fetch("SELECT field, operator FROM ticket_corrections WHERE ticket_id = $1", confirmed.id)
    assert ("urgency", "rec-sup") in {(c["field"], c["operator"]) for c in corr}
    assert receiver.raw_count(confirmed.id) == 1 and receiver.orders[confirmed.id]["call_id"] == cid
    assert (await stack.hotline.tickets.store.get(confirmed.id)).status == "handed_off"


async def test_redis_flushed_mid_call_loses_no_record_and_rebuilds_the_live_state(routing, tmp_path):
    """FLUSHALL twice under one real call: while it waits in its lane (it is put back in its place,
    and the seat's operator logged in again from the records' seat history), then while it is
    answered on a SIP phone (baresip). The call completes; its call record, CDR/CEL and ticket are
    in PostgreSQL; the next call is routed on the rebuilt state."""
    from agents.model import CallPhase, SeatState

    stack = routing
    watch, seats = stack.hotline.routing.redis_lost, stack.hotline.routing.seats
    tickets = stack.hotline.tickets.store

    async def flushed(what: str) -> None:
        seen = watch.lost
        await stack.redis.flushall()

        async def noticed():
            return watch.lost > seen
        await until(noticed, 10, f"the controller to notice Redis lost its data ({what})", every=0.2)

    phone, ctrl_port, log = _baresip(tmp_path, stack, "1005")
    try:
        async def registered():
            return "1005/sip:" in (await asyncio.to_thread(stack.asterisk.cli, "pjsip show contacts") or "")
        await until(registered, 45, "baresip to register seat 1005", every=0.3)
        await arrange(stack, ready=[])                        # the demo seats paused: 1005 is the only seat
        await seats.login("1005", "8005", pause_reason="小休")  # paused too: the call waits in its lane
        ev = Events(stack)
        await ev.mark()
        number = new_number()
        placed = asyncio.ensure_future(call(stack, caller=number, hold=90, timeout=120))
        cid = await ev.call_id(number)
        await asyncio.sleep(1)

        await flushed("a call waiting in its lane")
        st = await stack.hotline.routing.router.call(cid)
        assert st is not None and st.phase == CallPhase.WAITING and st.lane == "general", st
        s1005 = await seats.status("1005")
        assert s1005.operator_id == "8005" and s1005.state == SeatState.PAUSED and s1005.reason == "小休", s1005
        for sid in ("1001", "1002", "1003", "1004"):           # the demo seats logged in again, as at start
            assert (await seats.status(sid)).state != SeatState.LOGGED_OUT
        await arrange(stack, ready=[])
        await seats.ready("1005")                             # the operator is back: the call rings the phone
        await ev.wait(lambda e: e["type"] == "call_answered" and e["call_id"] == cid, 20, "baresip to answer")
        draft = await tickets.get_by_call(cid) or await tickets.create_draft(cid, number, "芦淞区建设路路灯坏了。")
        await asyncio.sleep(1)

        await flushed("the call answered at a SIP seat")
        await asyncio.sleep(1)
        await netstring("127.0.0.1", ctrl_port, {"command": "hangup", "token": "e2e"})
        result, _ = await placed
    finally:
        stop_phone(phone, log)
    assert result.completed
    rec = await _records_of(stack, cid)
    assert rec["seat"] == "1005" and rec["lane"] == "general" and rec["caller"] == number, rec
    assert rec["answered_at"] and rec["ended_at"] and rec["path"][-1] == "bye", rec
    assert any(c["dstchannel"].startswith("PJSIP/1005") and c["disposition"] == "ANSWERED" for c in rec["cdr"])
    async with stack.records.db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT call_id, status FROM tickets WHERE id = $1", draft.id)
        days = await conn.fetchval("SELECT sum(offered) FROM call_days WHERE day = $1 AND lane = 'general' "
                                   "AND seat = '1005'", datetime.now(TZ).date())
    assert row is not None and row["call_id"] == cid
    assert days >= 1                                          # counted once, at the seat that answered
    # the seat is free again after the call Redis forgot, and the next call is routed
    await until(lambda: _free(seats, "1005"), 20, "seat 1005 to be free after the call", every=0.3)
    with contextlib.suppress(Exception):
        await seats.logout("1005")
    await arrange(stack, ready=["1002"])                     # (1001 is kept for the deputies' lane)
    result2, rec2 = await call(stack)
    assert result2.completed and rec2 and rec2.get("seat") == "1002", (rec2, await seats.status("1002"))


async def _free(seats, seat_id: str) -> bool:
    from agents.model import SeatState

    return (await seats.status(seat_id)).state not in (SeatState.ON_CALL, SeatState.RINGING)


async def test_the_real_asterisk_csv_copy_is_private_and_rotated_without_losing_a_row(routing):
    """Asterisk's own CSV copy of CDR/CEL (cdr_custom/cel_custom): 0640 at most; renamed under a
    running Asterisk, its next records start a new file; rows cdr_pgsql/cel_pgsql did not write
    (deleted here) come back from both files, once."""
    import time

    import asyncpg

    from records.asterisk_csv import rotate

    stack = routing
    folder = stack.records.csv_dir
    admin = await asyncpg.connect(stack.records.server.admin_dsn)

    async def one_call() -> str:
        await arrange(stack, ready=["1002"])
        ev = Events(stack)
        await ev.mark()
        number = new_number()
        placed = asyncio.ensure_future(call(stack, caller=number))
        cid = await ev.call_id(number)
        result, _ = await placed
        assert result.completed
        await _records_of(stack, cid)                     # its CDR and CEL rows written by cdr_pgsql/cel_pgsql
        return cid

    async def forget(cid: str) -> list[str]:
        """The call's CDR/CEL rows gone from PostgreSQL, as when cdr_pgsql could not write them."""
        linked = [r["linkedid"] for r in await admin.fetch("SELECT DISTINCT linkedid FROM cdr WHERE uniqueid = $1", cid)]
        await admin.execute("DELETE FROM cdr WHERE linkedid = ANY($1::text[])", linked)
        await admin.execute("DELETE FROM cel WHERE linkedid = ANY($1::text[])", linked)
        return linked

    def csv_lines(linked: list[str]) -> int:
        return sum(1 for f in folder.glob("cdr*.csv*") if not f.name.endswith(".offset")
                   for line in f.read_text().splitlines() if any(f'"{x}"' in line for x in linked))

    try:
        first = await one_call()
        live = folder / "cdr.csv"
        for name in ("cdr.csv", "cel.csv"):
            assert (folder / name).stat().st_mode & 0o037 == 0, oct((folder / name).stat().st_mode)
        linked1 = await forget(first)
        old_inode = live.stat().st_ino
        done = rotate(folder, now=time.time(), tz=TZ, max_bytes=1)          # as the next run does when due
        assert len(done["rotated"]) == 2 and not live.exists()
        second = await one_call()                         # Asterisk's next records: a new live file
        assert live.exists() and live.stat().st_ino != old_inode and live.stat().st_mode & 0o037 == 0
        linked2 = await forget(second)
        await stack.records.backfill_asterisk(settle_s=0)
        for linked in (linked1, linked2):
            n = await admin.fetchval("SELECT count(*) FROM cdr WHERE linkedid = ANY($1::text[])", linked)
            doubled = await admin.fetchval("SELECT count(*) FROM (SELECT uniqueid, sequence FROM cdr WHERE "
                                           "linkedid = ANY($1::text[]) GROUP BY 1, 2 HAVING count(*) > 1) d", linked)
            assert n == csv_lines(linked) >= 1 and doubled == 0, (linked, n)
            cel = await admin.fetchval("SELECT count(*) FROM cel WHERE linkedid = ANY($1::text[])", linked)
            assert cel >= 5
        again = await stack.records.backfill_asterisk(settle_s=0)
        assert again["cdr_added"] == 0 and again["cel_added"] == 0, again
    finally:
        await admin.close()
