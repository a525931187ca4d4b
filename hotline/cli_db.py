"""The records database on the command line (PostgreSQL; records/):

    hotline db backup FILE            pg_dump of the records (custom format, 0600)
    hotline db restore FILE           pg_restore into the records database (replaces its tables)
    hotline db status                 schema version, row counts
    hotline db retention              the retention job now (it also runs daily in the hotline)
    hotline calls reconcile --day D   answered calls vs Asterisk's CDR rows of day D; exit 1 on a mismatch
    hotline calls records --day D     the day's call records from PostgreSQL, JSON Lines

Each finds the records database as every command finds the running hotline (hotline/running.py):
`--run FOLDER`, else run/current, else the settings' database.url; or `--database-url URL`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from hotline import running

EXIT_OK, EXIT_MISMATCH, EXIT_NO_DB = 0, 1, 2
TZ = "Asia/Shanghai"


def _subparsers_of(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:                     # argparse keeps them here
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="the records database (PostgreSQL): backup, restore, status")
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND")
    sub.required = True
    b = sub.add_parser("backup", help="pg_dump of the records into FILE")
    b.add_argument("file", type=Path)
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="pg_restore FILE into the records database (replaces its tables)")
    r.add_argument("file", type=Path)
    r.set_defaults(func=cmd_restore)
    st = sub.add_parser("status", help="schema version and row counts")
    st.set_defaults(func=cmd_status)
    rt = sub.add_parser("retention", help="delete recordings and anonymise personal data past their keeping time "
                                          "(database.recordings_days, personal_days) now; audited")
    rt.add_argument("--config", type=Path, default=None, help="settings file (the keeping times, the data folder)")
    rt.set_defaults(func=cmd_retention)
    for p in (b, r, st, rt):
        _db_arguments(p)

    calls = subparsers.choices.get("calls")           # `hotline calls ...` may be registered by another module
    calls_sub = _subparsers_of(calls) if calls is not None else None
    if calls_sub is None:
        calls = subparsers.add_parser("calls", help="call records")
        calls_sub = calls.add_subparsers(dest="calls_command", metavar="COMMAND")
        calls_sub.required = True
    rc = calls_sub.add_parser("reconcile", help="the day's answered calls vs Asterisk's CDR rows")
    rc.add_argument("--day", required=True, help="the hotline's local day, YYYY-MM-DD")
    rc.set_defaults(func=cmd_reconcile)
    rec = calls_sub.add_parser("records", help="the day's call records from the records database")
    rec.add_argument("--day", required=True, help="the hotline's local day, YYYY-MM-DD")
    rec.add_argument("--limit", type=int, default=10000)
    rec.set_defaults(func=cmd_call_records)
    for p in (rc, rec):
        _db_arguments(p)


def _db_arguments(p: argparse.ArgumentParser) -> None:
    running.add_arguments(p, redis=False)
    p.add_argument("--database-url", default=None, help="this records database instead of the running hotline's")


def _url(args: argparse.Namespace, what: str, stderr: IO[str]) -> str | None:
    url = running.database_url(args)
    if not url:
        stderr.write(f"hotline {what}: no records database found: start the hotline with scripts/up, "
                     f"or pass --run FOLDER or --database-url URL\n")
    return url


def _asterisk_csv(args: argparse.Namespace) -> str | None:
    """The running hotline's folder of Asterisk's CSV copy of CDR and CEL (ready.json), if any."""
    if getattr(args, "database_url", None):
        return None
    try:
        return running.locate(args).info.get("asterisk_csv") or None
    except running.NoHotline:
        return None


def _day(text: str) -> date:
    return date.fromisoformat(text)


async def _connect(url: str):
    import asyncpg

    from records.store import init_connection

    conn = await asyncpg.connect(url, timeout=10)
    await init_connection(conn)
    return conn


def cmd_backup(args: argparse.Namespace) -> int:
    from records.backup import BackupError, backup

    url = _url(args, "db backup", sys.stderr)
    if not url:
        return EXIT_NO_DB
    try:
        size = backup(url, args.file)
    except BackupError as exc:
        print(f"hotline db backup: {exc}", file=sys.stderr)
        return EXIT_NO_DB
    print(f"hotline db backup: {args.file} ({size} bytes)", file=sys.stderr)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from records.backup import BackupError, restore

    url = _url(args, "db restore", sys.stderr)
    if not url:
        return EXIT_NO_DB
    try:
        restore(url, args.file)
    except BackupError as exc:
        print(f"hotline db restore: {exc}", file=sys.stderr)
        return EXIT_NO_DB
    print(f"hotline db restore: {args.file} restored", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from records.schema import current_version, known_version

    url = _url(args, "db status", sys.stderr)
    if not url:
        return EXIT_NO_DB

    async def go() -> dict:
        conn = await _connect(url)
        try:
            out: dict[str, Any] = {"schema_version": await current_version(conn), "code_knows": known_version()}
            for table in ("tickets", "ticket_corrections", "handoff_outbox", "call_records", "audit_log",
                          "seat_history", "cdr", "cel"):
                out[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")   # fixed names only
            return out
        finally:
            await conn.close()
    print(json.dumps(asyncio.run(go()), ensure_ascii=False))
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    import time

    from hotline.settings import SettingsError, load
    from records.retention import RetentionPolicy, run_retention

    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_NO_DB
    url = _url(args, "db retention", sys.stderr)
    if not url:
        return EXIT_NO_DB
    d = settings.database

    async def go() -> dict:
        conn = await _connect(url)
        try:
            return await run_retention(conn, RetentionPolicy(d.recordings_days, d.personal_days),
                                       recordings_root=settings.path(settings.storage.data_dir) / "recordings",
                                       now=time.time())
        finally:
            await conn.close()
    print(json.dumps(asyncio.run(go()), ensure_ascii=False))
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    from records.reconcile import reconcile

    try:
        day = _day(args.day)
    except ValueError:
        print(f"hotline calls reconcile: --day {args.day!r}: expected YYYY-MM-DD", file=sys.stderr)
        return EXIT_MISMATCH
    url = _url(args, "calls reconcile", sys.stderr)
    if not url:
        return EXIT_NO_DB

    csv_dir = _asterisk_csv(args)

    async def go() -> dict:
        conn = await _connect(url)
        try:
            if csv_dir:                     # first: CDR/CEL rows Asterisk could not write, from its CSV copy
                import time

                from records.asterisk_csv import backfill

                added = await backfill(conn, Path(csv_dir), now=time.time(), tz=ZoneInfo(TZ))
                print(f"hotline calls reconcile: {added['cdr_added']} CDR and {added['cel_added']} CEL row(s) "
                      f"added from Asterisk's CSV copy", file=sys.stderr)
            return await reconcile(conn, day, ZoneInfo(TZ))
        finally:
            await conn.close()
    report = asyncio.run(go())
    print(json.dumps(report, ensure_ascii=False))
    return EXIT_OK if report["ok"] else EXIT_MISMATCH


def cmd_call_records(args: argparse.Namespace) -> int:
    from kernel.privacy import mask_number
    from records.store import calls_of_day

    try:
        day = _day(args.day)
    except ValueError:
        print(f"hotline calls records: --day {args.day!r}: expected YYYY-MM-DD", file=sys.stderr)
        return EXIT_MISMATCH
    url = _url(args, "calls records", sys.stderr)
    if not url:
        return EXIT_NO_DB

    async def go() -> list:
        conn = await _connect(url)
        try:
            return await calls_of_day(conn, day, max(1, args.limit))
        finally:
            await conn.close()
    for row in asyncio.run(go()):
        row["caller"] = mask_number(row["caller"]) if row.get("caller") else None
        print(json.dumps(row, ensure_ascii=False))
    return EXIT_OK


def export_tickets(url: str, stdout: IO[str], stderr: IO[str], first: date, last: date, *, mask: bool,
                   after: float | None) -> int:
    """`hotline tickets export` from the records database."""
    from records.store import export_tickets as export

    async def go() -> int:
        conn = await _connect(url)
        try:
            return await export(conn, stdout, first, last, mask=mask, after=after)
        finally:
            await conn.close()
    try:
        count = asyncio.run(go())
    except (OSError, Exception) as exc:        # asyncpg's errors have no common base with OSError
        stderr.write(f"hotline tickets export: records database: {exc}\n")
        return EXIT_NO_DB
    stdout.flush()
    stderr.write(f"hotline tickets export: {count} ticket(s) received {first} .. {last} (records database)\n")
    return EXIT_OK


