"""The AGI benchmark keeps working (a small run): both rows complete, the
controller reads every key, and the ratios are computed."""
import pytest

from bench import agi as bench_agi

pytestmark = pytest.mark.asterisk


async def test_bench_agi_small_run():
    out = await bench_agi.run(calls=6)
    assert out["baseline_plain_dialplan"]["completed"] == 6
    ours = out["controller_fastagi"]
    assert ours["completed"] == 6 and ours["keys_read"] == 6
    assert ours["agi_rtt_ms"]["samples"] == 6 * 6
    assert 0 < ours["agi_rtt_ms"]["p50"] <= ours["agi_rtt_ms"]["p99"]
    assert out["ratio_controller_over_baseline"]["calls_per_s"] > 0
