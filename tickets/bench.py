"""Extraction throughput: drafts per second over the evaluation transcripts,
against a baseline pass that only segments the same text with jieba (the
floor any dictionary-based extractor pays)."""
from __future__ import annotations

import json
import time
from pathlib import Path

EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "tickets_eval.jsonl"


def run(rounds: int = 5) -> dict:
    import jieba

    from tickets.extract import extract

    texts = [json.loads(line)["transcript"] for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    extract(texts[0])                                  # load dictionaries once
    list(jieba.cut(texts[0]))
    t = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            list(jieba.cut(text))
    base = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            extract(text)
    full = time.perf_counter() - t
    n = rounds * len(texts)
    return {"transcripts": len(texts), "rounds": rounds,
            "drafts_per_s": round(n / full, 1), "baseline_jieba_cut_per_s": round(n / base, 1),
            "ratio_extract_over_segment_time": round(full / base, 2),
            "avg_chars": round(sum(map(len, texts)) / len(texts), 1)}
