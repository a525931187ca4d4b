"""`hotline db backup` -> a new cluster -> `hotline db restore`: the same records."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from devstack.pg_server import PostgresServer
from records.spool import Spool
from records.writer import RecordWriter

HOTLINE = str(Path(sys.executable).parent / "hotline")
TABLES = ("tickets", "ticket_corrections", "handoff_outbox", "call_records", "audit_log", "seat_history", "cdr")


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    finally:
        await conn.close()


async def test_backup_to_a_new_cluster_and_restore_gives_the_same_records(pg_db, redis_client, tmp_path):
    from tickets.store import TicketStore

    db, admin = pg_db
    writer = RecordWriter(Spool(tmp_path / "spool.sqlite"), db.pool, ZoneInfo("Asia/Shanghai"), idle_s=0.02)
    task = asyncio.create_task(writer.run())
    tickets = TicketStore(redis_client, sink=writer.ticket)
    for i in range(5):
        t = await tickets.create_draft(f"b-{i}", f"1390000{i:04d}", "天元区小区电梯坏了，没人修。")
        if i % 2 == 0:
            await tickets.confirm(t.id, "8001", {"district": "天元区"})
        writer.call(f"b-{i}", {"call_id": f"b-{i}", "started": time.time(), "status": "answered", "seat": "1001"})
        writer.audit(f"web:audit:{i}-0", {"who": "admin", "role": "admin", "action": "ticket.read",
                                          "target": t.id, "ip": "127.0.0.1", "ts": repr(time.time()), "details": "{}"})
    writer.seat("1001", "login", operator="8001", state="ready")
    assert await writer.drain(10)
    task.cancel()
    before = await _counts(admin)
    assert before["tickets"] == 5 and before["handoff_outbox"] == 3 and before["audit_log"] == 5

    file = tmp_path / "records.dump"
    out = subprocess.run([HOTLINE, "db", "backup", str(file), "--database-url", admin], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert file.stat().st_mode & 0o777 == 0o600

    base = Path(tempfile.mkdtemp(prefix="hotline-pg-restore-"))
    os.chmod(base, 0o711)
    other = PostgresServer(base / "postgres", tmp_path / "log")
    await asyncio.to_thread(other.start)
    try:
        assert other.port != int(admin.rsplit("port=", 1)[1])
        out = subprocess.run([HOTLINE, "db", "restore", str(file), "--database-url", other.admin_dsn],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert await _counts(other.admin_dsn) == before
        conn = await asyncpg.connect(other.admin_dsn)
        try:
            # the restored audit trail is append-only again
            try:
                await conn.execute("DELETE FROM audit_log")
                raise AssertionError("the restored audit trail accepted a DELETE")
            except asyncpg.InsufficientPrivilegeError:
                pass
            ids = {r["id"] for r in await conn.fetch("SELECT id FROM tickets")}
        finally:
            await conn.close()
        assert ids == {t.id for t in [await tickets.get_by_call(f"b-{i}") for i in range(5)]}
        out = subprocess.run([HOTLINE, "db", "status", "--database-url", other.admin_dsn], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and '"tickets": 5' in out.stdout, out
    finally:
        await asyncio.to_thread(other.stop)
        shutil.rmtree(base, ignore_errors=True)
