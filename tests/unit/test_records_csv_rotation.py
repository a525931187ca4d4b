"""records/asterisk_csv.py, the pure parts of rotating Asterisk's CSV copy of CDR/CEL, and the file
moves on a real folder (no database): when a live file is renamed, the names, the order renamed
files are read in, which read-out files are past their keeping time, offsets that go with a
file (also after a crash between the two renames), and modes never world-readable."""
from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from records.asterisk_csv import (
    _read_offset,
    _write_offset,
    expired,
    rotate,
    rotated_in_order,
    rotated_name,
    should_rotate,
)

TZ = ZoneInfo("Asia/Shanghai")
D = date(2026, 12, 3)


def test_should_rotate_by_size_or_an_earlier_day():
    assert not should_rotate(0, date(2026, 12, 1), D)                 # empty: nothing to rotate
    assert not should_rotate(10, D, D, max_bytes=100)
    assert should_rotate(100, D, D, max_bytes=100)                    # big enough
    assert should_rotate(10, date(2026, 12, 2), D, max_bytes=100)     # rows of yesterday
    assert not should_rotate(10, None, D, max_bytes=100)              # first row unreadable: by size only


def test_rotated_names_are_free_and_read_oldest_first():
    assert rotated_name("cdr", D, []) == "cdr-20261203.csv"
    assert rotated_name("cdr", D, ["cdr-20261203.csv"]) == "cdr-20261203-2.csv"
    assert rotated_name("cdr", D, ["cdr-20261203.csv.read", "cdr-20261203-2.csv"]) == "cdr-20261203-3.csv"
    assert rotated_name("cel", D, ["cdr-20261203.csv"]) == "cel-20261203.csv"
    names = ["cdr-20261203-10.csv", "cdr.csv", "cdr-20261203-2.csv", "cdr-20261130.csv", "cdr-20261203.csv",
             "cel-20261101.csv", "cdr-20261129.csv.read", "cdr-20261203.csv.offset", "x.csv"]
    assert rotated_in_order("cdr", names) == ["cdr-20261130.csv", "cdr-20261203.csv", "cdr-20261203-2.csv",
                                              "cdr-20261203-10.csv"]
    assert rotated_in_order("cel", names) == ["cel-20261101.csv"]


def test_only_read_out_files_expire_after_keep_days():
    now = datetime(2026, 12, 3, tzinfo=UTC).timestamp()
    old, young = now - 731 * 86400, now - 10 * 86400
    files = [("cdr-20241201.csv.read", old), ("cdr-20241202.csv", old),          # not read out yet: kept
             ("cel-20261123.csv.read", young), ("cdr.csv", old), ("notes.read", old)]
    assert expired(files, now, 730) == ["cdr-20241201.csv.read"]
    assert expired(files, now, None) == []


def _cdr_line(at: float) -> str:
    return f'"{at:.6f}","{at + 30:.6f}","x"\n'


def test_rotate_moves_the_file_with_its_offset_and_makes_it_private(tmp_path):
    live = tmp_path / "cdr.csv"
    yesterday = datetime(2026, 12, 2, 23, 59, 59, tzinfo=TZ).timestamp()          # local day 2026-12-02
    live.write_text(_cdr_line(yesterday) + _cdr_line(yesterday + 2))
    os.chmod(live, 0o666)
    _write_offset(live, 40, live.stat().st_ino)
    ino = live.stat().st_ino
    now = datetime(2026, 12, 3, 0, 0, 30, tzinfo=TZ).timestamp()
    assert rotate(tmp_path, now=now, tz=TZ) == {"rotated": ["cdr-20261202.csv"], "deleted": []}
    moved = tmp_path / "cdr-20261202.csv"
    assert not live.exists() and moved.stat().st_ino == ino and _read_offset(moved) == (40, ino)
    assert not (tmp_path / "cdr.csv.offset").exists()
    assert moved.stat().st_mode & 0o777 == 0o640
    # UTC would still call it 2026-12-02 16:00: the day is the hotline's
    live.write_text(_cdr_line(now))
    assert rotate(tmp_path, now=now + 60, tz=TZ)["rotated"] == []
    assert rotate(tmp_path, now=now + 60, tz=TZ, max_bytes=10)["rotated"] == ["cdr-20261203.csv"]


def test_an_offset_left_on_the_live_name_by_a_crash_goes_to_its_file(tmp_path):
    live = tmp_path / "cel.csv"
    live.write_text("a\n")
    ino = live.stat().st_ino
    _write_offset(live, 2, ino)
    os.rename(live, tmp_path / "cel-20261202.csv")        # renamed; the crash came before the offset moved
    live.write_text("b\n")                                  # Asterisk's next event: a new live file
    rotate(tmp_path, now=datetime(2026, 12, 3, 12, tzinfo=TZ).timestamp(), tz=TZ, max_bytes=1 << 20)
    assert _read_offset(tmp_path / "cel-20261202.csv") == (2, ino)
    assert _read_offset(live) == (0, None)
