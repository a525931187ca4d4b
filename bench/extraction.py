"""Extraction throughput: drafts per second over labelled transcripts (clean, recogniser-style
and two-speaker), with the learned model and with the rules only, against a baseline pass that
only segments the same text with jieba (the floor any dictionary-based extractor pays).
Single process, one core: CPU time (time.process_time), so a busy machine does not count."""
from __future__ import annotations

import json
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FILES = (DATA / "tickets_eval.jsonl", DATA / "tickets_heldout.jsonl")


def _texts(limit: int) -> list[str]:
    texts: list[str] = []
    for path in FILES:
        if path.exists():
            texts += [json.loads(line)["transcript"] for line in path.read_text(encoding="utf-8").splitlines()
                      if line.strip()]
    return texts[:limit]


def run(rounds: int = 3, limit: int = 600) -> dict:
    import jieba

    from tickets.extract import extract
    from tickets.learned import default_model
    from tickets.rules import load_rules

    texts = _texts(limit)
    rules = load_rules()
    model = default_model()
    extract(texts[0], rules, model=model)                 # load dictionaries and the model once
    tok = jieba.Tokenizer()
    tok.initialize()
    list(tok.cut(texts[0]))

    def timed(fn) -> float:
        # CPU time of this process: what one core spends, whatever else the machine runs
        t = time.process_time()
        for _ in range(rounds):
            for text in texts:
                fn(text)
        return time.process_time() - t

    base = timed(lambda s: list(tok.cut(s)))
    full = timed(lambda s: extract(s, rules, model=model))
    rules_only = timed(lambda s: extract(s, rules, model=None))
    n = rounds * len(texts)
    return {"transcripts": len(texts), "rounds": rounds, "model": model.version if model else None,
            "drafts_per_s": round(n / full, 1), "drafts_per_s_rules_only": round(n / rules_only, 1),
            "baseline_jieba_cut_per_s": round(n / base, 1),
            "ratio_extract_over_segment_time": round(full / base, 2),
            "ratio_rules_only_over_segment_time": round(rules_only / base, 2),
            "avg_chars": round(sum(map(len, texts)) / len(texts), 1)}
