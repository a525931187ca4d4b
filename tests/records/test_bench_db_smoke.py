"""`hotline bench db` at a small N: every record written, figures present, ratios computed."""
from __future__ import annotations

from hotline.bench_db import run


async def test_bench_db_small_run():
    out = await run(records=50, report_calls=5000)
    assert out["baseline_plain_insert"]["records"] == 50 and out["baseline_plain_insert"]["per_s"] > 0
    assert out["confirm_ticket"]["records"] == 50 and out["confirm_ticket"]["outbox_rows"] == 50
    assert out["call_record"]["calls"] == 10 and out["call_record"]["ended"] == 10
    assert out["confirm_ticket"]["p99_ms"] >= out["confirm_ticket"]["p50_ms"] >= 0
    rep = out["quarter_report"]
    assert rep["calls_generated"] == 5000 and 1000 < rep["quarter_calls"] < 1500 and rep["p99_ms"] > 0
    assert set(out["ratios"]) == {"confirm_ticket_per_s_vs_plain_insert", "call_patches_per_s_vs_plain_insert",
                                  "call_path_wait_p99_us_vs_plain_insert_p99_us"}
