"""`hotline bench knowledge` at a small N: every update measured, the baseline too, no expired article
ever suggested, ratios computed."""
from __future__ import annotations

from bench.knowledge import run


async def test_bench_knowledge_small_run():
    out = await run(articles=120, calls=3)
    assert out["articles"]["count"] == 120 and out["articles"]["expired"] == 12
    assert out["knowledge_search"]["updates"] == out["baseline_ilike"]["updates"] == 12
    assert out["knowledge_search"]["expired_suggested"] == 0
    assert out["knowledge_search"]["p99_ms"] >= out["knowledge_search"]["p50_ms"] > 0
    assert out["baseline_ilike_ranked"]["updates"] == 12
    assert set(out["ratios"]) == {"search_p50_vs_ilike_p50", "search_p99_vs_ilike_p99",
                                  "search_p50_vs_ilike_ranked_p50", "search_p99_vs_ilike_ranked_p99"}
    assert out["quality_top1"]["knowledge"]["clean"] is not None
