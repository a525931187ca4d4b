"""Report figures (web.reports), pure: periods, sums of day counters, figures
from sums (not averages of rates), categories, the weekly trend, CSV."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from web import reports as R


def test_periods_cut_to_the_range_iso_weeks_and_quarters():
    weeks = R.periods(date(2026, 11, 25), date(2026, 12, 9), "week")      # Wed .. Wed
    assert [(p.key, p.start, p.end) for p in weeks] == [
        ("2026-W48", date(2026, 11, 25), date(2026, 11, 29)),
        ("2026-W49", date(2026, 11, 30), date(2026, 12, 6)),
        ("2026-W50", date(2026, 12, 7), date(2026, 12, 9))]
    assert weeks[1].label == "2026年第49周"
    # ISO week 1 of 2027 starts on Monday 2027-01-04; 2027-01-01..03 belong to 2026-W53
    assert R.period_key(date(2027, 1, 2), "week") == "2026-W53"
    quarters = R.periods(date(2026, 3, 30), date(2026, 7, 1), "quarter")
    assert [(p.key, p.start, p.end, p.label) for p in quarters] == [
        ("2026-Q1", date(2026, 3, 30), date(2026, 3, 31), "2026年第1季度"),
        ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30), "2026年第2季度"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 7, 1), "2026年第3季度")]
    assert [p.key for p in R.periods(date(2026, 2, 27), date(2026, 3, 1), "day")] == [
        "2026-02-27", "2026-02-28", "2026-03-01"]


def test_bad_ranges_are_refused_with_an_error_id():
    with pytest.raises(R.ReportError) as e:
        R.day_range(date(2026, 5, 2), date(2026, 5, 1))
    assert e.value.error_id == "invalid_range"
    with pytest.raises(R.ReportError) as e:
        R.day_range(date(2025, 1, 1), date(2026, 5, 1))
    assert e.value.error_id == "range_too_long" and e.value.details["max_days"] == R.MAX_DAYS
    with pytest.raises(R.ReportError) as e:
        R.parse_day("2026-13-01")
    assert e.value.error_id == "invalid_date"
    with pytest.raises(R.ReportError):
        R.period_key(date(2026, 1, 1), "month")


@pytest.mark.parametrize("today, period, start", [
    (date(2026, 12, 1), "day", date(2026, 11, 18)),
    (date(2026, 12, 1), "week", date(2026, 9, 14)),          # Tuesday -> the Monday 11 weeks before
    (date(2026, 12, 1), "quarter", date(2026, 1, 1)),
    (date(2026, 2, 10), "quarter", date(2025, 4, 1)),
])
def test_default_ranges(today, period, start):
    assert R.default_range(today, period) == (start, today)
    assert len(R.day_range(start, today)) <= R.MAX_DAYS


def test_scope_rows_sum_counters_and_compute_figures_from_the_sums():
    d1, d2, d3 = date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1)    # Sun | Mon, Tue
    counters = {
        d1: {"lane:general": {"offered": 10, "answered": 9, "answered_sl": 9, "abandoned": 1,
                              "wait_ms": 50_000, "answer_wait_ms": 40_000, "talk_ms": 900_000}},
        d2: {"lane:general": {"offered": 100, "answered": 50, "answered_sl": 10, "abandoned": 50,
                              "wait_ms": 5_000_000, "answer_wait_ms": 3_000_000, "talk_ms": 6_000_000,
                              "wrap_ms": 1_000_000},
             "seat:1001": {"rang": 7, "answered": 6, "no_answer": 1, "talk_ms": 600_000}},
        d3: {"lane:general": {"offered": 20, "answered": 20, "answered_sl": 20, "wait_ms": 100_000,
                              "answer_wait_ms": 100_000, "talk_ms": 2_000_000}},
    }
    scopes = [R.Scope("lane", "general", "综合受理"), R.Scope("seat", "1001", "坐席一")]
    rows = R.scope_rows(counters, "week", d1, d3, scopes)
    assert [(r["period"], r["kind"], r["id"]) for r in rows] == [
        ("2026-W48", "lane", "general"), ("2026-W48", "seat", "1001"),
        ("2026-W49", "lane", "general"), ("2026-W49", "seat", "1001")]
    w49 = rows[2]
    assert (w49["offered"], w49["answered"], w49["abandoned"]) == (120, 70, 50)
    # from the sums: 70 answered of 120 ended; not the mean of 50 % and 100 %
    assert w49["answer_rate"] == round(70 / 120, 4) and w49["service_level"] == round(30 / 120, 4)
    assert w49["avg_wait_s"] == round(5_100_000 / 120 / 1000, 1)
    assert w49["avg_handle_s"] == round(9_000_000 / 70 / 1000, 1)
    assert rows[1]["rang"] == 0 and rows[1]["answer_rate"] is None       # nothing counted: no figure
    assert rows[3]["rang"] == 7 and rows[3]["avg_talk_s"] == 100.0
    quarter = R.scope_rows(counters, "quarter", d1, d3, scopes[:1])
    assert len(quarter) == 1 and quarter[0]["offered"] == 130


def _ticket(category, status="confirmed", draft_category=None):
    confirmed = json.dumps({"category": category}, ensure_ascii=False) if status != "draft" else None
    draft = json.dumps({"category": draft_category or category, "transcript": "…"}, ensure_ascii=False)
    return status, confirmed, draft


def test_category_of_prefers_the_confirmed_fields():
    assert R.category_of(*_ticket(["人力资源社会保障", "欠薪"])) == "人力资源社会保障/欠薪"
    assert R.category_of(*_ticket(["人力资源社会保障", "欠薪"], draft_category=["城市管理"])) == "人力资源社会保障/欠薪"
    assert R.category_of(*_ticket(["交通运输"], status="draft")) == "交通运输"
    assert R.category_of(*_ticket(["人力资源社会保障", "欠薪"]), level=1) == "人力资源社会保障"
    assert R.category_of("draft", None, json.dumps({"category": None})) == R.UNCLASSIFIED
    assert R.category_of("draft", None, "not json") == R.UNCLASSIFIED
    assert R.category_of("confirmed", None, None) == R.UNCLASSIFIED


def _day_counts(spec):
    out = {}
    for day, tickets in spec.items():
        counts = {}
        for cat, confirmed in tickets:
            R.add_ticket(counts, cat, confirmed)
        out[day] = counts
    return out


WAGES, ROADS, NOISE = "人力资源社会保障/欠薪", "交通运输/道路", "生态环境/噪声"


def test_category_rows_per_period_most_first_with_shares():
    counts = _day_counts({
        date(2026, 11, 30): [(WAGES, True), (WAGES, False), (ROADS, True)],
        date(2026, 12, 2): [(WAGES, True), (NOISE, True)],
        date(2026, 12, 8): [(ROADS, True)],
    })
    rows = R.category_rows(counts, "week", date(2026, 11, 30), date(2026, 12, 8))
    assert [(r["period"], r["category"], r["tickets"], r["confirmed"]) for r in rows] == [
        ("2026-W49", WAGES, 3, 2), ("2026-W49", ROADS, 1, 1), ("2026-W49", NOISE, 1, 1),
        ("2026-W50", ROADS, 1, 1)]
    assert rows[0]["share"] == 0.6 and rows[3]["share"] == 1.0


def test_category_trend_keeps_the_top_ones_and_sums_the_rest():
    counts = _day_counts({
        date(2026, 11, 30): [(WAGES, True)] + [(ROADS, True)] * 3 + [(NOISE, True)],
        date(2026, 12, 7): [(WAGES, True)] * 4 + [(ROADS, True)] * 2,
        date(2026, 12, 14): [(WAGES, True)] * 9 + [("其他咨询", False)],
    })
    t = R.category_trend(counts, date(2026, 11, 30), date(2026, 12, 20), top=2)
    assert [w["key"] for w in t["weeks"]] == ["2026-W49", "2026-W50", "2026-W51"]
    series = {s["category"]: s for s in t["series"]}
    assert list(series) == [WAGES, ROADS, R.OTHERS]
    assert series[WAGES]["counts"] == [1, 4, 9] and series[WAGES]["last_change"] == 5
    assert series[ROADS]["counts"] == [3, 2, 0] and series[ROADS]["total"] == 5
    assert series[R.OTHERS]["counts"] == [1, 0, 1] and series[R.OTHERS]["others"] == 2
    assert t["totals"] == [5, 6, 10]
    focused = R.category_trend(counts, date(2026, 11, 30), date(2026, 12, 20), top=1, focus=[NOISE])
    assert [s["category"] for s in focused["series"]] == [WAGES, NOISE, R.OTHERS]


def test_csv_has_a_bom_chinese_headers_and_defuses_formulas():
    rows = [{"period": "2026-W49", "period_label": "2026年第49周", "kind": "seat", "id": "1001",
             "name": "=HYPERLINK(\"x\")", "offered": 3, "answer_rate": 0.5, "avg_wait_s": None},
            {"period": "2026-W49", "kind": "lane", "id": "general", "name": "综合受理", "offered": -1}]
    text = R.to_csv(rows, R.SCOPE_COLUMNS)
    assert text.startswith("\ufeff统计周期,")
    data = text.encode("utf-8")
    assert data[:3] == b"\xef\xbb\xbf"
    table = list(csv.reader(io.StringIO(text[1:])))
    assert table[0][:5] == ["统计周期", "周期名称", "维度", "编号", "名称"]
    head = table[0]
    first = dict(zip(head, table[1]))
    assert first["维度"] == "坐席" and first["名称"].startswith("'=") and first["接通率"] == "0.5"
    assert first["平均等待(秒)"] == ""
    assert dict(zip(head, table[2]))["呼入量"] == "-1" and dict(zip(head, table[2]))["维度"] == "队列"
    assert "\r\n" in text


def test_csv_formula_guard_covers_tab_cr_and_lf():
    # issue #12 item 13: spreadsheets skip a leading TAB/CR before reading a formula
    rows = [{"period": "2026-W49", "kind": "seat", "id": "1001", "name": name, "offered": 1}
            for name in ("\t=cmd|'/c calc'!A1", "\r=1+1", "\n@SUM(A1)", "\t1", " =1")]
    table = list(csv.reader(io.StringIO(R.to_csv(rows, R.SCOPE_COLUMNS)[1:])))
    head = table[0]
    names = [dict(zip(head, r))["名称"] for r in table[1:]]
    assert names[:4] == ["'\t=cmd|'/c calc'!A1", "'\r=1+1", "'\n@SUM(A1)", "'\t1"]
    assert names[4] == " =1"            # a leading blank: not a formula to a spreadsheet
