"""`hotline bench sip` keeps working (a small run): SIPp carrier calls with RTP through both flows,
answered by SIPp seats, with every figure of the report computed."""
import pytest

from bench import sip as bench_sip
from devstack import sipp

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(400)]

if sipp.SIPP is None:
    pytest.skip("sipp (Debian sip-tester) is not installed", allow_module_level=True)


async def test_bench_sip_small_run():
    out = await bench_sip.run(max_calls=3, levels=[3], talk_s=2.0)
    assert out["seats"]["registered"] == out["seats"]["configured"]
    held = out["max_concurrency_zero_failures"]
    assert held["baseline_plain_dialplan"] == 3 and held["controller"] == 3, out
    assert held["ratio_controller_over_baseline"] == 1.0
    for side in ("baseline_plain_dialplan", "controller"):
        (row,) = out[side]
        assert row["completed"] == 3 and row["failed"] == 0 and row["seat_answered"] >= 3, row
        assert row["peak_active_calls"] >= 2
        assert row["calls_per_s"] > 0
        assert row["cpu_s_per_call"]["asterisk"] > 0 and row["cpu_s_per_call"]["sipp"] > 0
        assert row["post_dial_delay_ms"]["samples"] == 3
        k2p = row["key_to_next_prompt_ms"]
        assert k2p["samples"] == 3 and 0 <= k2p["p50"] <= k2p["p99"] < 2000, row   # every key 2 heard
    assert out["controller"][0]["cpu_s_per_call"]["controller"] > 0
    assert out["at_common_level"]["concurrency"] == 3
