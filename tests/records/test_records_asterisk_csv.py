"""The CDR/CEL backfill (records/asterisk_csv.py) on a real PostgreSQL: rows of Asterisk's CSV copy
missing from the cdr and cel tables are added once, those cdr_pgsql/cel_pgsql wrote are not doubled,
rows still settling wait, and how far each file was read survives a restart."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from records.asterisk import CDR_CSV, CEL_CSV
from records.asterisk_csv import backfill

T0 = 1_764_730_000.25        # seconds since the epoch, with microseconds as Asterisk writes them


def _line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
    return out.getvalue()


def cdr(uid: str, seq: int, start: float, *, dst: str = "", answered: bool = True) -> str:
    v = dict.fromkeys(CDR_CSV, "")
    v.update(start=f"{start:.6f}", end=f"{start + 30:.6f}", src="13800001111", dst="s", channel=f"PJSIP/t-{uid}",
             dstchannel=dst, duration="30", billsec="25" if answered else "0",
             disposition="ANSWERED" if answered else "NO ANSWER", amaflags="3", uniqueid=uid, linkedid=uid,
             sequence=str(seq), clid='"坐席, 测试" <13800001111>')
    return _line([v[c] for c in CDR_CSV])


def cel(uid: str, kind: str, at: float) -> str:
    v = dict.fromkeys(CEL_CSV, "")
    v.update(eventtype=kind, eventtime=f"{at:.6f}", cid_num="13800001111", channame=f"PJSIP/t-{uid}",
             amaflags="DOCUMENTATION", uniqueid=uid, linkedid=uid, extra='{"hangupcause":16}')
    return _line([v[c] for c in CEL_CSV])


async def test_missing_rows_are_added_once_and_written_ones_not_doubled(pg_db, tmp_path):
    db, _ = pg_db
    folder = tmp_path / "asterisk"
    folder.mkdir()
    (folder / "cdr.csv").write_text(cdr("u1", 1, T0, dst="PJSIP/1001-1") + cdr("u2", 2, T0 + 1, answered=False)
                                    + cdr("u3", 3, T0 + 5000))          # u3: ends after `now - settle`
    events = [("u1", "CHAN_START", T0), ("u1", "ANSWER", T0 + 0.5), ("u1", "CHAN_END", T0 + 30.000001),
              ("u2", "CHAN_START", T0 + 1)]
    (folder / "cel.csv").write_text("".join(cel(*e) for e in events) + cel("u3", "CHAN_START", T0 + 5000)
                                    + '"CHAN_START","17647')              # a line Asterisk is writing
    async with db.pool.acquire() as conn:
        # what cdr_pgsql / cel_pgsql did write before PostgreSQL went away: u1's CDR and first event
        await conn.execute("INSERT INTO cdr (calldate, uniqueid, linkedid, sequence, disposition) "
                           "VALUES ($1, 'u1', 'u1', 1, 'ANSWERED')", datetime.fromtimestamp(T0, UTC))
        await conn.execute("INSERT INTO cel (eventtype, eventtime, uniqueid, linkedid) VALUES "
                           "('CHAN_START', $1, 'u1', 'u1')", datetime.fromtimestamp(T0, UTC))
        first = await backfill(conn, folder, now=T0 + 600, settle_s=30)
        assert first == {"cdr_read": 2, "cdr_added": 1, "cel_read": 4, "cel_added": 3}
        cdrs = await conn.fetch("SELECT uniqueid, sequence, clid, billsec, amaflags, calldate FROM cdr ORDER BY uniqueid")
        cels = await conn.fetch("SELECT uniqueid, eventtype, eventtime, amaflags, extra FROM cel "
                                "ORDER BY uniqueid, eventtime")
        assert [(r["uniqueid"], r["sequence"]) for r in cdrs] == [("u1", 1), ("u2", 2)]
        assert cdrs[1]["clid"] == '"坐席, 测试" <13800001111>' and cdrs[1]["billsec"] == 0
        assert cdrs[1]["amaflags"] == 3 and cdrs[1]["calldate"] == datetime.fromtimestamp(T0 + 1, UTC)
        assert [(r["uniqueid"], r["eventtype"]) for r in cels] == [("u1", "CHAN_START"), ("u1", "ANSWER"),
                                                                    ("u1", "CHAN_END"), ("u2", "CHAN_START")]
        assert cels[2]["eventtime"] == datetime(2025, 12, 3, 2, 47, 10, 250001, UTC)   # to the microsecond
        assert cels[1]["amaflags"] == 3 and cels[2]["extra"] == '{"hangupcause":16}'
        # again (the next minute, or `hotline calls reconcile`): nothing new; the settled u3 then comes
        assert await backfill(conn, folder, now=T0 + 600, settle_s=30) == dict.fromkeys(first, 0)
        (folder / "cdr.csv.offset").unlink()                      # the offsets lost: still nothing doubled
        (folder / "cel.csv.offset").unlink()
        later = await backfill(conn, folder, now=T0 + 6000, settle_s=30)
        assert later["cdr_added"] == 1 and later["cel_added"] == 1
        assert await conn.fetchval("SELECT count(*) FROM cdr") == 3
        assert await conn.fetchval("SELECT count(*) FROM cel") == 5


async def test_rotation_reads_each_file_once_and_loses_no_row_written_during_it(pg_db, tmp_path):
    import os

    from records.asterisk_csv import _read_offset

    db, _ = pg_db
    folder = tmp_path / "asterisk"
    folder.mkdir()
    live = folder / "cdr.csv"
    day1 = T0                                               # 2025-12-03 02:46 UTC
    live.write_text(cdr("a1", 1, day1) + cdr("a2", 2, day1 + 10))
    async with db.pool.acquire() as conn:
        assert (await backfill(conn, folder, now=day1 + 600, settle_s=30))["cdr_added"] == 2
        # Asterisk had the file open for a record when it was renamed: that record lands in the renamed
        # file, after the rotation; the next records make a new live file
        with open(live, "a") as in_flight:
            day2 = day1 + 86400
            got = await backfill(conn, folder, now=day2, settle_s=30)        # a new day: rotated
            assert got["cdr_added"] == 0 and not live.exists()
            in_flight.write(cdr("a3", 3, day1 + 20))
        live.write_text(cdr("b1", 1, day2 + 5))
        rotated = folder / "cdr-20251203.csv"
        assert rotated.exists() and _read_offset(rotated)[0] > 0
        os.utime(rotated, (day2 + 590, day2 + 590))                     # (file times on the test's clock)
        got = await backfill(conn, folder, now=day2 + 600, settle_s=30, quiet_s=3600)
        assert (got["cdr_read"], got["cdr_added"]) == (2, 2)              # a3 from the renamed file, b1 live
        assert rotated.exists()                                           # not quiet long enough yet
        # read out once quiet: renamed .read and never read again, even with the offsets lost
        got = await backfill(conn, folder, now=day2 + 600, settle_s=30, quiet_s=0)
        assert got["cdr_read"] == 0 and not rotated.exists() and (folder / "cdr-20251203.csv.read").exists()
        for f in folder.glob("*.offset"):
            f.unlink()
        got = await backfill(conn, folder, now=day2 + 600, settle_s=30, quiet_s=0)
        assert got["cdr_read"] == 1 and got["cdr_added"] == 0             # only the live file read again
        assert sorted(r["uniqueid"] for r in await conn.fetch("SELECT uniqueid FROM cdr")) == ["a1", "a2", "a3", "b1"]
        # the read-out copy goes after keep_days (it holds callers' numbers); never world-readable
        old = day2 - 800 * 86400
        os.utime(folder / "cdr-20251203.csv.read", (old, old))
        await backfill(conn, folder, now=day2 + 600, settle_s=30, keep_days=730)
        assert not (folder / "cdr-20251203.csv.read").exists()
        assert all(f.stat().st_mode & 0o007 == 0 for f in folder.iterdir())
