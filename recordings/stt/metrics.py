"""Accuracy of transcripts: character error rate for Chinese, compared
without punctuation or spaces (vosk separates words with spaces) and with
Chinese numerals and digits in one form (三十五 / 幺幺零 -> 35 / 110)."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_NOT_TEXT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_zh(text: str) -> str:
    text = _NOT_TEXT.sub("", unicodedata.normalize("NFKC", text)).lower()
    if not text:
        return text
    import cn2an  # slow to import (it loads its own tables)

    try:
        return cn2an.transform(text, "cn2an")
    except Exception:                # cn2an rejects some odd numeral runs: keep the text as is
        return text


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (substitutions, insertions, deletions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize_zh(reference), normalize_zh(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def corpus_cer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total edits over total reference characters, for (reference, hypothesis) pairs."""
    edits = chars = 0
    for reference, hypothesis in pairs:
        ref, hyp = normalize_zh(reference), normalize_zh(hypothesis)
        edits += edit_distance(ref, hyp)
        chars += len(ref)
    return edits / chars if chars else 0.0
