"""The records database in the running hotline: the private PostgreSQL (or `database.url`), the
migrations, the pool, the spool and its writer; and what Asterisk needs for CDR and CEL.

    records = await RecordsUp.start(settings, run, persistent=True)   # None when database.url is "none"
    records.writer.call(...)             # the sinks the record owners are given
    records.asterisk_files()             # cdr.conf, cel.conf, cdr_pgsql.conf, cel_pgsql.conf
    await records.stop()                 # the spool is written out (bounded), pool closed, cluster stopped
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.orphans import scratch_folder
from devstack.pg_server import APP_ROLE, CDR_ROLE, PostgresServer, _reachable_by
from devstack.procs import try_lock
from hotline.settings import Settings
from records.asterisk import CdrTarget, asterisk_files, link_csv_folder
from records.db import Database
from records.spool import Spool
from records.store import ticket_record
from records.writer import RecordWriter

# How long a ticket read back from the records waits for the spool (its latest change may still be
# there); short: the console is waiting, and under steady load the spool is never quite empty.
RECALL_DRAIN_S = 0.3
log = logging.getLogger("hotline.records")
STOP_DRAIN_S = 5.0
RETENTION_FIRST_S = 60.0
BACKFILL_EVERY_S = 60.0


def _reachable(folder: Path) -> bool:
    return os.geteuid() != 0 or _reachable_by(folder, "postgres")


def _beside(folder: Path) -> Path:
    """For root, when the postgres OS user cannot reach `folder` (a folder above it is 0700, as
    pytest's temporary folders are): a folder of its own, found again from the same path."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    under_tmp = str(folder).startswith(tempfile.gettempdir().rstrip("/") + "/")
    base = Path(tempfile.gettempdir()) if under_tmp else Path("/var/lib/hotline12345")
    base.mkdir(parents=True, exist_ok=True)
    alt = base / f"hotline-pg-{digest}"
    alt.mkdir(exist_ok=True)
    os.chmod(alt, 0o711)
    log.warning("records: the postgres OS user cannot reach %s; the cluster is kept in %s", folder, alt)
    return alt / "postgres"


def _pg_folder(settings: Settings, run: Path, persistent: bool) -> tuple[Path, Any, Path | None]:
    """Where the private cluster lives: (folder, lock, a scratch folder to remove at stop)."""
    if persistent:
        folder = settings.path(settings.database.data_dir or str(Path(settings.storage.data_dir) / "postgres"))
        lock = try_lock(folder.parent / f".{folder.name}.lock")
        if lock is not None:
            folder.mkdir(parents=True, exist_ok=True)
            return (folder if _reachable(folder) else _beside(folder)), lock, None
        log.warning("%s is in use by another hotline on this machine; this one keeps its records database "
                    "in its run folder", folder)
    folder = Path(run) / "postgres"
    if os.geteuid() == 0 and not _reachable_by(folder, "postgres"):
        # the run folder is closed to the postgres OS user (e.g. a test's 0700 temporary folder)
        scratch = scratch_folder()          # (a scratch folder left by a process that died is reaped)
        return scratch / "postgres", None, scratch
    return folder, None, None


@dataclass
class RecordsUp:
    settings: Settings
    db: Database
    writer: RecordWriter
    spool: Spool
    server: PostgresServer | None = None
    cdr: CdrTarget | None = None
    csv_dir: Path | None = None
    task: asyncio.Task | None = None
    retention_task: asyncio.Task | None = None
    route_task: asyncio.Task | None = None
    backfill_task: asyncio.Task | None = None
    _locks: list = field(default_factory=list)
    _scratch: Path | None = None

    @classmethod
    async def start(cls, settings: Settings, run: Path, *, persistent: bool = True,
                    node: str = "") -> RecordsUp | None:
        url = settings.database.url
        if url.strip().lower() == "none":
            log.warning("records database off (database.url: none): tickets, calls and audit only in Redis")
            return None
        server = None
        locks: list = []
        scratch = None
        if url:
            db = await Database.open(url, tz=settings.hotline.timezone)
            cdr = CdrTarget.from_url(url)
        else:
            folder, lock, scratch = _pg_folder(settings, run, persistent)
            if lock is not None:
                locks.append(lock)
            server = PostgresServer(folder, Path(run) / "log")
            await asyncio.to_thread(server.start)
            db = await Database.open(server.app_dsn, admin_dsn=server.admin_dsn, roles=(APP_ROLE, CDR_ROLE),
                                     tz=settings.hotline.timezone)
            parts = server.cdr_dsn_parts
            cdr = CdrTarget(host=str(parts["host"]), port=int(parts["port"]), dbname=str(parts["dbname"]),
                            user=str(parts["user"]), password=str(parts["password"]))
        spool_dir = settings.path(settings.storage.data_dir) / "records" if persistent else Path(run) / "records"
        lock = try_lock(spool_dir / ".lock")
        if lock is None:
            spool_dir = Path(run) / "records"
        else:
            locks.append(lock)
        spool_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(spool_dir, 0o700)
        spool = Spool(spool_dir / "spool.sqlite", max_rows=settings.database.spool_max_rows)
        if len(spool):
            log.info("records: %d record(s) left in the spool by the last run; writing them", len(spool))
        csv_dir = spool_dir / "asterisk"             # Asterisk's CSV copy of CDR and CEL (records/asterisk_csv.py)
        csv_dir.mkdir(exist_ok=True)
        os.chmod(csv_dir, 0o700)
        link_csv_folder(Path(run) / "log", csv_dir)      # Asterisk's ASTLOGDIR (asterisk-conf/asterisk.conf)
        writer = RecordWriter(spool, db.pool, db.tz, node=node)
        up = cls(settings, db, writer, spool, server=server, cdr=cdr, csv_dir=csv_dir, _locks=locks,
                 _scratch=scratch)
        up.task = asyncio.create_task(writer.run(), name="records-writer")
        up.retention_task = asyncio.create_task(up._retention_daily(), name="records-retention")
        up.backfill_task = asyncio.create_task(up._backfill_often(), name="records-asterisk-csv")
        return up

    async def retention_once(self, now: float | None = None) -> dict[str, Any]:
        import time

        from records.retention import RetentionPolicy, run_retention

        d = self.settings.database
        async with self.db.pool.acquire(timeout=10) as conn:
            return await run_retention(conn, RetentionPolicy(d.recordings_days, d.personal_days),
                                       recordings_root=self.settings.path(self.settings.storage.data_dir) / "recordings",
                                       now=time.time() if now is None else now)

    async def _retention_daily(self) -> None:
        """A minute after start, then once a day; a failure is logged and tried the next day."""
        await asyncio.sleep(RETENTION_FIRST_S)
        while True:
            try:
                await self.retention_once()
            except Exception as exc:           # e.g. PostgreSQL away just then
                log.warning("records: the retention job failed (%s: %s); it runs again in a day",
                            type(exc).__name__, exc)
            await asyncio.sleep(86400)

    async def backfill_asterisk(self, settle_s: float | None = None) -> dict[str, int]:
        """CDR and CEL rows Asterisk could not write to PostgreSQL, added from its CSV copy (rotated
        first; read-out copies kept as long as the records keep personal data)."""
        import time

        from records.asterisk_csv import SETTLE_S, backfill

        assert self.csv_dir is not None
        async with self.db.pool.acquire(timeout=10) as conn:
            return await backfill(conn, self.csv_dir, now=time.time(),
                                  settle_s=SETTLE_S if settle_s is None else settle_s, tz=self.db.tz,
                                  keep_days=self.settings.database.personal_days)

    async def _backfill_often(self) -> None:
        """At start, then every BACKFILL_EVERY_S; PostgreSQL away: tried again the next time."""
        while True:
            try:
                await self.backfill_asterisk()
            except Exception as exc:
                log.debug("records: the CDR/CEL backfill did not run (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(BACKFILL_EVERY_S)

    def follow_routing(self, redis: Any, prefix: str) -> None:
        """The routing engine's counts into the records (records/route_counts.py): the reports' call
        figures from SQL. Its place in the events stream is kept beside the spool."""
        from records.route_counts import follow_route_events

        position = Path(self.spool.path).with_name(f"route_events.{prefix}.last")
        self.route_task = asyncio.create_task(
            follow_route_events(redis, self.writer, prefix=prefix, position=position), name="records-route-events")

    def asterisk_files(self) -> dict[str, str]:
        return asterisk_files(self.cdr, csv_copy=self.csv_dir is not None) if self.cdr is not None else {}

    async def ticket_seq_floor(self, day: str) -> int:
        """The highest ticket number of day YYYYMMDD in the records (0 when none or unreachable).
        Asked when Redis has no counter for the day (a new day, or Redis lost its data): the tickets
        still in the spool are written first, so a number they hold is never given again."""
        try:
            await self.writer.drain(2)
            async with self.db.pool.acquire(timeout=2) as conn:
                n = await conn.fetchval(
                    "SELECT max(split_part(id, '-', 3)::bigint) FROM tickets "
                    "WHERE day = to_date($1, 'YYYYMMDD') AND split_part(id, '-', 3) ~ '^[0-9]+$'", day)
        except Exception as exc:             # PostgreSQL away: the day counter goes on from Redis
            log.warning("records: ticket numbers of %s not read from PostgreSQL (%s)", day, exc)
            return 0
        return int(n or 0)

    async def ticket_doc(self, ticket_id: str | None = None, *, call_id: str | None = None) -> dict[str, Any] | None:
        """The ticket as the records hold it, by id or by call: {"doc": its API form, "received_at",
        "confirmed_at", "updated_at": exact Unix times}; None when the records have none or are
        unreachable. Asked when Redis no longer has a ticket (Redis lost its data): the tickets
        still in the spool are written first."""
        try:
            await self.writer.drain(RECALL_DRAIN_S)
            async with self.db.pool.acquire(timeout=2) as conn:
                return await ticket_record(conn, ticket_id, call_id=call_id)
        except Exception as exc:             # PostgreSQL away: the ticket stays missing for now
            log.warning("records: ticket %s not read from PostgreSQL (%s)", ticket_id or f"of call {call_id}", exc)
            return None

    def ready_info(self) -> dict[str, Any]:
        return {"database": self.server.admin_dsn if self.server else "external",
                "postgres_port": self.server.port if self.server else None,
                "asterisk_csv": str(self.csv_dir) if self.csv_dir else None}

    async def stop(self) -> None:
        if self.route_task is not None:          # first: nothing more put in the spool
            self.route_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.route_task
        with contextlib.suppress(Exception):
            if not await self.writer.drain(STOP_DRAIN_S):
                log.warning("records: %d record(s) stay in the spool for the next start", len(self.spool))
        for task in (self.backfill_task, self.retention_task, self.task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.db.close(), 10)
        self.spool.close()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        for lock in self._locks:
            lock.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
