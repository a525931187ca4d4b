"""records/: the pure parts (rows from records, Asterisk config, migration files, the spool)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from records.asterisk import CdrConfigError, CdrTarget, asterisk_files
from records.model import call_columns, call_day_deltas, call_day_key, merge_call, outbox_state
from records.schema import known_version, migrations
from records.spool import Spool

TZ = ZoneInfo("Asia/Shanghai")


def test_call_patches_merge_in_order_and_give_the_columns():
    data = merge_call(None, {"call_id": "1.1", "caller": "13800001234", "started": 1_764_000_000.0,
                             "status": "ivr", "path": []})
    data = merge_call(data, {"status": "queued", "lane": "general", "queued_at": 1_764_000_010.0})
    data = merge_call(data, {"status": "answered", "seat": "1001", "answered": 1_764_000_025.5,
                             "recording": "/r/1.1.wav"})
    data = merge_call(data, {"path": '["start","menu","general_q"]', "end_reason": "caller_hangup",
                             "ended": 1_764_000_100.0, "vars": {"rating": "1"}})
    cols = call_columns(data, TZ)
    assert cols["status"] == "answered" and cols["seat"] == "1001" and cols["lane"] == "general"
    assert cols["wait_s"] == pytest.approx(15.5)
    assert cols["path"] == ["start", "menu", "general_q"]
    assert cols["rating"] == "1" and cols["end_reason"] == "caller_hangup"
    assert cols["day"].isoformat() == "2025-11-25"          # local day in Asia/Shanghai
    assert cols["ended_at"].timestamp() == 1_764_000_100.0


def test_call_columns_never_trust_a_type():
    cols = call_columns({"started": "not a time", "queued_at": "x", "seat": None, "path": "garbage"}, TZ)
    assert cols["started_at"] is None and cols["day"] is None and cols["wait_s"] is None
    assert cols["path"] == [] and cols["seat"] is None


def test_unanswered_call_waits_until_it_ended():
    cols = call_columns({"queued_at": 100.0, "ended": 160.0, "status": "missed"}, TZ)
    assert cols["wait_s"] == 60.0


def test_call_day_deltas_move_a_call_between_rollup_rows():
    from datetime import date

    d = date(2026, 12, 3)
    assert call_day_key(d, None, "1001") is None and call_day_key(None, "general", None) is None
    assert call_day_key(d, "general", None) == (d, "general", "")
    ivr, queued, rung = (None, False), ((d, "general", ""), False), ((d, "general", "1001"), False)
    answered = ((d, "general", "1001"), True)
    assert call_day_deltas([(None, ivr)]) == {}                        # not offered: counted nowhere
    assert call_day_deltas([(ivr, queued)]) == {(d, "general", ""): (1, 0)}
    assert call_day_deltas([(queued, rung)]) == {(d, "general", ""): (-1, 0), (d, "general", "1001"): (1, 0)}
    assert call_day_deltas([(rung, answered)]) == {(d, "general", "1001"): (0, 1)}
    assert call_day_deltas([(answered, answered), (rung, rung)]) == {}       # nothing changed
    # a whole call in one batch, and a call whose day was corrected (another local day)
    assert call_day_deltas([(None, answered)]) == {(d, "general", "1001"): (1, 1)}
    other = ((date(2026, 12, 4), "general", "1001"), True)
    assert call_day_deltas([(answered, other)]) == {(d, "general", "1001"): (-1, -1),
                                                     (date(2026, 12, 4), "general", "1001"): (1, 1)}


def test_outbox_state_of_ticket_status():
    assert outbox_state("draft") is None
    assert outbox_state("confirmed") == "queued"
    assert outbox_state("handed_off") == "handed_off"


def test_asterisk_files_turn_cdr_and_cel_on_with_the_target():
    files = asterisk_files(CdrTarget("127.0.0.1", 5544, "hotline", "hotline_cdr", "s3cret-Token_x"))
    assert set(files) == {"cdr.conf", "cel.conf", "cdr_pgsql.conf", "cel_pgsql.conf"}
    assert "enable=yes" in files["cdr.conf"] and "enable=yes" in files["cel.conf"]
    assert "port=5544" in files["cdr_pgsql.conf"] and "table=cdr" in files["cdr_pgsql.conf"]
    assert "table=cel" in files["cel_pgsql.conf"] and "password=s3cret-Token_x" in files["cel_pgsql.conf"]


@pytest.mark.parametrize("field,value", [("host", "127.0.0.1\ntable=x"), ("user", "a;b"), ("dbname", "x y"),
                                         ("password", "pw\n[global]"), ("port", 0)])
def test_asterisk_files_refuse_values_that_would_add_config_lines(field, value):
    args = {"host": "127.0.0.1", "port": 5432, "dbname": "hotline", "user": "u", "password": "p"}
    args[field] = value
    with pytest.raises(CdrConfigError) as err:
        asterisk_files(CdrTarget(**args))
    assert field in err.value.details["fields"]


def test_cdr_target_from_url():
    t = CdrTarget.from_url("postgresql://cdr:pa%2Dss@db.example:6432/records")
    assert (t.host, t.port, t.dbname, t.user, t.password) == ("db.example", 6432, "records", "cdr", "pa-ss")


def test_migrations_are_numbered_without_gaps():
    ms = migrations()
    assert [m.version for m in ms] == list(range(1, known_version() + 1))
    assert "CREATE TABLE tickets" in ms[0].sql and "CREATE TABLE cdr" in ms[1].sql


def test_spool_keeps_records_across_a_reopen_and_is_bounded(tmp_path, caplog):
    s = Spool(tmp_path / "spool.sqlite", max_rows=3)
    assert all(s.put("call", f"c{i}", {"n": i}) for i in range(3))
    assert not s.put("call", "c3", {"n": 3}) and not s.put("call", "c4", {"n": 4})
    assert s.dropped == 2
    assert sum("spool full" in r.message for r in caplog.records) == 1       # logged once
    s.close()
    s = Spool(tmp_path / "spool.sqlite", max_rows=3)
    rows = s.peek(10)
    assert [r[3]["n"] for r in rows] == [0, 1, 2]
    s.done(rows[1][0])
    assert [r[3]["n"] for r in s.peek(10)] == [2] and len(s) == 1
    assert (tmp_path / "spool.sqlite").stat().st_mode & 0o777 == 0o600
