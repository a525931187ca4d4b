"""Asterisk's CDR and CEL rows that cdr_pgsql / cel_pgsql could not write (PostgreSQL away: those
modules do not buffer) put back from the CSV copy Asterisk also writes (cdr_custom / cel_custom,
records/asterisk.py: FOLDER/cdr.csv and FOLDER/cel.csv, local files that need no database).

    report = await backfill(conn, Path("data/records/asterisk"), now=time.time())
    # {"cdr_read": 12, "cdr_added": 3, "cel_read": 80, "cel_added": 21}

Run by the hotline at start and every minute, and by `hotline calls reconcile` before it counts.
A CSV row is added only when the table has no row with its key (CDR: uniqueid and sequence; CEL:
uniqueid, event type and event time to the microsecond), so rows cdr_pgsql did write are never
doubled; runs take turns on an advisory lock. Rows younger than `settle_s` wait for the next run
(cdr_pgsql may be writing them just then). How far each file was read is kept beside it
(`.offset`, with the file's inode), advanced only once its rows are committed.

Rotation (`rotate`, at the start of every run, under a lock file so the hotline and `hotline calls
reconcile` take turns): cdr.csv / cel.csv are renamed `cdr-YYYYMMDD[-N].csv` (the local day of their
first row) when they reach ROTATE_BYTES or their first row is of an earlier day; Asterisk opens,
appends and closes the file for each record, so its next record starts a new cdr.csv, and a record
being written at the rename still lands whole in the renamed file. A renamed file keeps its offset
and is read on after rotation, until it is read to its end and no line has come for QUIET_S; it is
then renamed `….csv.read` and never read again. `.read` files are deleted after `keep_days` (the
records' personal_days: they hold callers' numbers). Files are made 0640 at most.
"""
from __future__ import annotations

import asyncio
import csv
import fcntl
import io
import logging
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from records.asterisk import CDR_CSV, CEL_CSV

log = logging.getLogger("records.asterisk_csv")
LOCK_ID = 1_234_512_346          # pg_advisory_xact_lock key of the backfill
SETTLE_S = 30.0
BATCH = 2000
ROTATE_BYTES = 64 * 1024 * 1024
QUIET_S = 120.0                  # a renamed file with no new line for this long is read out
KINDS = ("cdr", "cel")
_ROTATED = re.compile(r"^(cdr|cel)-(\d{8})(?:-(\d+))?\.csv$")
_AMA = {"OMIT": 1, "BILLING": 2, "DOCUMENTATION": 3}


def _epoch(text: str) -> datetime | None:
    """Asterisk's `seconds.microseconds` as an exact UTC time (no float rounding)."""
    sec, _, frac = text.strip().partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()) or int(sec) == 0:
        return None
    return datetime.fromtimestamp(int(sec), UTC).replace(microsecond=int((frac + "000000")[:6]) if frac else 0)


def _int(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return _AMA.get(text.upper(), 0)


def _lines(path: Path, offset: int, inode: int | None = None) -> tuple[list[tuple[int, list[str]]], int, int]:
    """Whole lines from `offset`: [(offset after the line, fields)], the file's size and inode.
    An offset kept for another file (`inode` differs) or past the end: read from the start."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return [], 0, 0
    with fh:
        st = os.fstat(fh.fileno())
        if offset > st.st_size or (inode is not None and inode != st.st_ino):
            offset = 0                  # the file was replaced: read it from its start
        fh.seek(offset)
        data = fh.read()
    out = []
    pos = offset
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break                        # being written just now
        pos += len(raw)
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if text:
            out.append((pos, next(csv.reader(io.StringIO(text)))))
    return out, st.st_size, st.st_ino


def _offset_file(path: Path) -> Path:
    return path.with_name(path.name + ".offset")


def _read_offset(path: Path) -> tuple[int, int | None]:
    """(offset, inode of the file it was kept for; None in the format before rotation)."""
    try:
        parts = _offset_file(path).read_text().split()
        return int(parts[0]) if parts else 0, int(parts[1]) if len(parts) > 1 else None
    except (OSError, ValueError):
        return 0, None


def _write_offset(path: Path, offset: int, inode: int) -> None:
    f = _offset_file(path)
    tmp = f.with_name(f".{f.name}.tmp")
    tmp.write_text(f"{offset} {inode}")
    os.replace(tmp, f)


# -- rotation (pure parts first) --------------------------------------------------------------
def should_rotate(size: int, first_day: date | None, today: date, max_bytes: int = ROTATE_BYTES) -> bool:
    """Pure: the live file is renamed when it is this big, or holds rows of a day before today."""
    return size > 0 and (size >= max_bytes or (first_day is not None and first_day < today))


def rotated_name(kind: str, day: date, taken: Iterable[str]) -> str:
    """Pure: `cdr-YYYYMMDD.csv`, else `cdr-YYYYMMDD-N.csv` with the first N free (counting `.read` ones)."""
    taken = set(taken)
    base = f"{kind}-{day.strftime('%Y%m%d')}"
    n = 1
    while True:
        name = f"{base}.csv" if n == 1 else f"{base}-{n}.csv"
        if name not in taken and f"{name}.read" not in taken:
            return name
        n += 1


def rotated_in_order(kind: str, names: Iterable[str]) -> list[str]:
    """Pure: the renamed files of `kind` still to be read, oldest first (by day, then number)."""
    got = []
    for name in names:
        m = _ROTATED.match(name)
        if m and m.group(1) == kind:
            got.append((m.group(2), int(m.group(3) or 1), name))
    return [name for *_, name in sorted(got)]


def expired(files: Iterable[tuple[str, float]], now: float, keep_days: int | None) -> list[str]:
    """Pure: the read-out files (`….csv.read`, with their mtime) older than `keep_days`."""
    if keep_days is None:
        return []
    before = now - keep_days * 86400
    return sorted(name for name, mtime in files if name.endswith(".csv.read") and _ROTATED.match(name[:-5])
                  and mtime < before)


def _first_day(path: Path, kind: str, tz: tzinfo) -> date | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.readline()
    except OSError:
        return None
    if not raw.endswith(b"\n"):
        return None
    fields = next(csv.reader(io.StringIO(raw.decode("utf-8", errors="replace"))), [])
    at = _epoch(fields[0 if kind == "cdr" else 1]) if len(fields) > 1 else None
    return at.astimezone(tz).date() if at is not None else None


def _private(path: Path) -> None:
    """At most 0640 (Asterisk started by hotline has umask 027; an Asterisk of the site may not)."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o137:
            os.chmod(path, mode & 0o640)
    except FileNotFoundError:
        pass


def rotate(folder: Path, *, now: float, tz: tzinfo = UTC, max_bytes: int = ROTATE_BYTES,
           keep_days: int | None = None) -> dict[str, Any]:
    """Rename the live files due (their offsets go with them), put back an offset a crash left on
    the live file's name, delete read-out files past `keep_days`; every file made 0640 at most.
    What was done: {"rotated": [names], "deleted": [names]}."""
    folder = Path(folder)
    done: dict[str, Any] = {"rotated": [], "deleted": []}
    today = datetime.fromtimestamp(now, tz).date()
    for kind in KINDS:
        live = folder / f"{kind}.csv"
        names = os.listdir(folder)
        _adopt_offset(folder, live, rotated_in_order(kind, names))
        try:
            st = live.stat()
        except FileNotFoundError:
            continue
        first = _first_day(live, kind, tz)
        if not should_rotate(st.st_size, first, today, max_bytes):
            continue
        name = rotated_name(kind, first or today, names)
        offset, inode = _read_offset(live)
        os.rename(live, folder / name)                 # Asterisk's next record makes a new live file
        if inode in (None, st.st_ino):
            _write_offset(folder / name, offset, st.st_ino)
        _offset_file(live).unlink(missing_ok=True)
        done["rotated"].append(name)
        log.info("records: %s rotated to %s (%d bytes)", live.name, name, st.st_size)
    for name in expired(((n, (folder / n).stat().st_mtime) for n in os.listdir(folder)), now, keep_days):
        (folder / name).unlink(missing_ok=True)
        done["deleted"].append(name)
    for name in os.listdir(folder):
        if not name.startswith("."):
            _private(folder / name)
    return done


def _adopt_offset(folder: Path, live: Path, rotated: list[str]) -> None:
    """A crash between renaming a live file and moving its offset leaves the offset on the live
    name with the renamed file's inode: moved to that file (so none of its rows is read twice)."""
    offset, inode = _read_offset(live)
    if inode is None:
        return
    try:
        if live.stat().st_ino == inode:
            return
    except FileNotFoundError:
        pass
    for name in rotated:
        path = folder / name
        if not _offset_file(path).exists() and path.stat().st_ino == inode:
            _write_offset(path, offset, inode)
            _offset_file(live).unlink(missing_ok=True)
            return


def _read_out(path: Path, now: float, quiet_s: float) -> bool:
    """A renamed file read to its end with no line for `quiet_s`: renamed `.read` (a last line
    Asterisk never ended is logged and left)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    offset, inode = _read_offset(path)
    if now - st.st_mtime < quiet_s or (inode is not None and inode != st.st_ino):
        return False
    if offset < st.st_size:
        with open(path, "rb") as fh:
            fh.seek(offset)
            rest = fh.read()
        if b"\n" in rest:
            return False                                # rows still to read (settling)
        log.warning("records: %s ends with a line Asterisk never finished (%d bytes); left", path, len(rest))
    os.rename(path, path.with_name(path.name + ".read"))
    _offset_file(path).unlink(missing_ok=True)
    return True


def cdr_row(fields: Sequence[str]) -> dict[str, Any] | None:
    if len(fields) != len(CDR_CSV):
        return None
    r = dict(zip(CDR_CSV, fields))
    start = _epoch(r["start"])
    if start is None or not r["uniqueid"]:
        return None
    return {"calldate": start, "end": _epoch(r["end"]) or start, "clid": r["clid"], "src": r["src"],
            "dst": r["dst"], "dcontext": r["dcontext"], "channel": r["channel"], "dstchannel": r["dstchannel"],
            "lastapp": r["lastapp"], "lastdata": r["lastdata"], "duration": _int(r["duration"]),
            "billsec": _int(r["billsec"]), "disposition": r["disposition"], "amaflags": _int(r["amaflags"]),
            "accountcode": r["accountcode"], "uniqueid": r["uniqueid"], "userfield": r["userfield"],
            "peeraccount": r["peeraccount"], "linkedid": r["linkedid"], "sequence": _int(r["sequence"])}


def cel_row(fields: Sequence[str]) -> dict[str, Any] | None:
    if len(fields) != len(CEL_CSV):
        return None
    r: dict[str, Any] = dict(zip(CEL_CSV, fields))
    r["eventtime"] = _epoch(r["eventtime"])
    if r["eventtime"] is None or not r["uniqueid"] or not r["eventtype"]:
        return None
    r["amaflags"] = _int(r["amaflags"])
    return r


_CDR_COLS = ("calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata",
             "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield",
             "peeraccount", "linkedid", "sequence")
_CEL_COLS = CEL_CSV


def _insert(table: str, cols: Sequence[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})")


async def _cdr_missing(conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = {(r["uniqueid"], r["sequence"]) for r in await conn.fetch(
        "SELECT uniqueid, sequence FROM cdr WHERE uniqueid = ANY($1::text[])", list({r["uniqueid"] for r in rows}))}
    out, seen = [], set()
    for r in rows:
        key = (r["uniqueid"], r["sequence"])
        if key not in kept and key not in seen:
            seen.add(key)
            out.append(r)
    return out


async def _cel_missing(conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = {(r["uniqueid"], r["eventtype"], r["eventtime"]) for r in await conn.fetch(
        "SELECT uniqueid, eventtype, eventtime FROM cel WHERE uniqueid = ANY($1::text[])",
        list({r["uniqueid"] for r in rows}))}
    out, seen = [], set()
    for r in rows:
        key = (r["uniqueid"], r["eventtype"], r["eventtime"])
        if key not in kept and key not in seen:
            seen.add(key)
            out.append(r)
    return out


async def _one_batch(conn, path: Path, kind: str, settle_before: datetime) -> tuple[int, int, tuple[int, int] | None]:
    """Up to BATCH lines of one file: (rows read, rows added, the (offset, inode) to keep once
    committed; None when there was nothing to read or the next row is still settling)."""
    parse, missing, table, cols = ((cdr_row, _cdr_missing, "cdr", _CDR_COLS) if kind == "cdr"
                                   else (cel_row, _cel_missing, "cel", _CEL_COLS))
    offset, inode = _read_offset(path)
    lines, _, ino = _lines(path, offset, inode)
    rows, upto = [], None
    for pos, fields in lines[:BATCH]:
        row = parse(fields)
        if row is not None:
            if (row["end"] if kind == "cdr" else row["eventtime"]) > settle_before:
                break                           # this and the rest wait for the next run
            rows.append(row)
        else:
            log.warning("records: %s: a line that is not a %s row was skipped", path, kind.upper())
        upto = pos
    new = await missing(conn, rows) if rows else []
    if new:
        await conn.executemany(_insert(table, cols), [tuple(r[c] for c in cols) for r in new])
    return len(rows), len(new), (upto, ino) if upto is not None else None


async def backfill(conn, folder: Path, *, now: float, settle_s: float = SETTLE_S, tz: tzinfo = UTC,
                   max_bytes: int = ROTATE_BYTES, keep_days: int | None = None,
                   quiet_s: float = QUIET_S) -> dict[str, int]:
    """Rotate what is due, then add the CSV rows missing from the cdr and cel tables (renamed files
    first, oldest first, then the live ones); what was read and added."""
    folder = Path(folder)
    settle_before = datetime.fromtimestamp(now - settle_s, UTC)
    report = {"cdr_read": 0, "cdr_added": 0, "cel_read": 0, "cel_added": 0}
    if not folder.is_dir():
        return report
    lock = os.open(folder / ".backfill.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)    # the hotline and the CLI take turns
        rotate(folder, now=now, tz=tz, max_bytes=max_bytes, keep_days=keep_days)
        for kind in KINDS:
            rotated = rotated_in_order(kind, os.listdir(folder))
            for path in [folder / name for name in rotated] + [folder / f"{kind}.csv"]:
                while True:
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
                        read, added, upto = await _one_batch(conn, path, kind, settle_before)
                    if upto is None:
                        break
                    _write_offset(path, *upto)       # only once the rows are committed
                    report[f"{kind}_read"] += read
                    report[f"{kind}_added"] += added
                if path.name != f"{kind}.csv":
                    _read_out(path, now, quiet_s)
    finally:
        os.close(lock)                               # (the lock goes with it)
    if report["cdr_added"] or report["cel_added"]:
        log.warning("records: %d CDR and %d CEL row(s) that Asterisk could not write to PostgreSQL added from "
                    "its CSV copy", report["cdr_added"], report["cel_added"])
    return report
