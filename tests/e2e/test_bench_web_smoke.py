"""`hotline bench web` keeps working (a small run): real AMI events through the
controller reach every page, both baselines are measured, ratios computed."""
import pytest

from bench import web as bench_web

pytestmark = pytest.mark.asterisk


@pytest.mark.timeout(180)
async def test_bench_web_small_run():
    out = await bench_web.run(clients=4, events=15, rate=50, warmup=3)
    consoles, sups = out["consoles"], out["supervisors"]
    assert consoles["pages"] == sups["pages"] == 4
    assert sups["pages_per_event"] == 4 and consoles["pages_per_event"] == 1
    assert sups["websocket_ms"]["lost"] == 0 and sups["websocket_ms"]["n"] == 4 * 15
    # 18 calls ring at 18 seats; only the first 4 seats have a console open
    assert consoles["websocket_ms"]["lost"] == 0 and consoles["websocket_ms"]["n"] == consoles["websocket_ms"]["expected"]
    for row in (consoles, sups):
        assert row["baseline_ami_raw_ms"]["n"] == row["baseline_redis_stream_raw_ms"]["n"] == 15
        assert 0 < row["baseline_ami_raw_ms"]["p50"] <= row["baseline_redis_stream_raw_ms"]["p50"]
    assert sups["baseline_redis_stream_raw_ms"]["p50"] <= sups["websocket_ms"]["p50"] <= sups["websocket_ms"]["p99"]
    assert sups["ratio_websocket_over_redis_raw"]["p50"] >= 1.0
    assert sups["ratio_websocket_over_ami_raw"]["p99"] > 0
