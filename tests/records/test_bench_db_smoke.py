"""`hotline bench db` at a small N: every record written, figures present, ratios computed."""
from __future__ import annotations

from bench.db import run


async def test_bench_db_small_run():
    out = await run(records=50, report_calls=5000)
    assert out["baseline_plain_insert"]["records"] == 50 and out["baseline_plain_insert"]["per_s"] > 0
    assert out["confirm_ticket"]["records"] == 50 and out["confirm_ticket"]["outbox_rows"] == 50
    assert out["call_record"]["calls"] == 10 and out["call_record"]["ended"] == 10
    assert out["confirm_ticket"]["p99_ms"] >= out["confirm_ticket"]["p50_ms"] >= 0
    rep = out["quarter_report"]
    assert rep["calls_generated"] == 5000 and 1000 < rep["quarter_calls"] < 1500 and rep["p99_ms"] > 0
    assert rep["same_figures_as_scan"] and rep["scan_before"]["p99_ms"] > 0 and rep["ratio_p99_vs_count"] > 0
    page = out["reports_page_quarter"]                 # the /reports path with the records on (SQL)
    generated = rep["quarter_calls"] - out["call_record"]["calls"]      # (the call-record run's calls are today's)
    assert page["quarter_calls"] == generated and page["quarter_tickets"] >= generated
    assert page["scope_rows"] == 54 and page["category_rows"] >= 35 and page["p99_ms"] > 0
    assert page["same_figures_as_day_sums"] and page["same_categories_as_scan"]
    assert page["day_sums_and_ticket_scan_before"]["p99_ms"] > 0
    assert set(out["ratios"]) == {"confirm_ticket_per_s_vs_plain_insert", "call_patches_per_s_vs_plain_insert",
                                  "call_path_wait_p99_us_vs_plain_insert_p99_us"}
