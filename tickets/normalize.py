"""Clean-up of speech-recognition text before extraction.

vosk writes Mandarin as words separated by spaces and numbers as Chinese
characters ("我 电话 是 幺 三 八 ..."). `normalize` joins the words (keeping
where they were split as token boundaries), turns spoken digit strings of
phone-number length into ASCII digits (幺 = 1, 两 = 2, 洞/零/〇 = 0), drops
filler words (呃, 那个 ...) and stutters, and cuts over-long input.
`readable_numbers` turns counted amounts (三千五 块 -> 3500块) into digits
with cn2an for summaries.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cn2an

SPOKEN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "两": "2",
    "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}
_DIGIT_CLASS = "0-9" + "".join(SPOKEN_DIGITS)
# A run of at least 7 spoken or written digits, possibly split by spaces or dashes.
_DIGIT_RUN = re.compile(f"[{_DIGIT_CLASS}](?:[\\s\\-—_]*[{_DIGIT_CLASS}]){{6,}}")
_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、…~·\"'“”‘’()（）\[\]【】<>《》/\\|]+")
_ASCII_WORD = re.compile(r"[0-9A-Za-z]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_LETTER = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u0e00-\u0e7f]")

# Counted amounts worth writing in digits: a numeral with a unit after it.
_AMOUNT = re.compile(
    r"(?<![几好第零〇一二两三四五六七八九十百千万])[零〇一二两三四五六七八九十百千万]+(?=多?(?:块|元|万|个|人|天|月|年|岁|度|小时|号|栋|楼|单元|室|次|斤|亩|户|分钟|点|趟|辆|台|公里|米|平))"
)


@dataclass(frozen=True)
class NormalizedText:
    """The transcript ready for matching."""

    text: str                       # joined words, fillers dropped, phone digits in ASCII
    boundaries: frozenset[int]      # offsets in `text` between words (recogniser's or `segment`'s)
    spaced: bool                    # whether the input came split into words
    truncated: bool
    original_length: int


def spoken_digits_to_ascii(text: str) -> str:
    """Turn runs of 7+ spoken digits into one ASCII number: '幺 三 八 零 ...' -> '138 0...'."""

    def convert(m: re.Match[str]) -> str:
        return "".join(SPOKEN_DIGITS.get(ch, ch) for ch in m.group(0) if ch.isdigit() or ch in SPOKEN_DIGITS)

    return _DIGIT_RUN.sub(lambda m: f" {convert(m)} ", text)


def script_profile(text: str) -> tuple[float, str]:
    """(share of Chinese among letters, name of the dominant script)."""
    sample = text[:4000]
    counts = {
        "Chinese": len(_CJK.findall(sample)),
        "Korean": len(_HANGUL.findall(sample)),
        "Japanese": len(_KANA.findall(sample)),
        "English": len(_LATIN.findall(sample)),
        "other": len(_OTHER_LETTER.findall(sample)),
    }
    total = sum(counts.values())
    if total == 0:
        return 0.0, "no letters"
    dominant = max(counts, key=lambda k: counts[k])
    return counts["Chinese"] / total, dominant


def normalize(
    raw: str,
    max_chars: int,
    fillers: frozenset[str] = frozenset(),
    segment: Callable[[str], Iterable[str]] | None = None,
    stutters: frozenset[str] = frozenset(),
) -> NormalizedText:
    """Join the recogniser's words, drop fillers and stutters, convert phone digits.

    `segment` splits text that came without spaces (typed text, another
    recogniser) into words so fillers can still be found; jieba in practice.
    """
    original_length = len(raw)
    truncated = original_length > max_chars
    text = unicodedata.normalize("NFKC", raw[:max_chars])
    text = spoken_digits_to_ascii(text)
    text = _PUNCT.sub(" ", text)
    words = text.split()
    spaced = len(words) > 1 and len(words) * 4 >= len(text) - len(words)
    if not spaced and segment is not None and words:
        words = [w for chunk in words for w in segment(chunk) if w.strip()]
    kept = _drop_fillers(words, fillers, stutters)
    joined, boundaries = _join(kept)
    return NormalizedText(
        text=joined,
        boundaries=frozenset(boundaries),
        spaced=spaced,
        truncated=truncated,
        original_length=original_length,
    )


def _drop_fillers(words: list[str], fillers: frozenset[str], stutters: frozenset[str]) -> list[str]:
    kept: list[str] = []
    for word in words:
        if word in fillers:
            continue
        if kept and word == kept[-1] and word in stutters:
            continue                                # stutter: 我 我 我 -> 我 (but 想 想, 帮 帮 stay)
        kept.append(word)
    return kept


def _join(words: list[str]) -> tuple[str, list[int]]:
    parts: list[str] = []
    boundaries: list[int] = []
    length = 0
    for word in words:
        if parts and _ASCII_WORD.match(word[0]) and _ASCII_WORD.match(parts[-1][-1]):
            parts.append(" ")
            length += 1
        boundaries.append(length)
        parts.append(word)
        length += len(word)
    boundaries.append(length)
    return "".join(parts), boundaries


def readable_numbers(text: str) -> str:
    """Write counted amounts in digits for summaries: 三千五块 -> 3500块, 二十四小时 -> 24小时."""

    def convert(m: re.Match[str]) -> str:
        span = m.group(0)
        if len(span) <= 2 and not any(u in span for u in "十百千万"):
            return span                             # 一个, 五六次, 两三点: keep as said
        try:
            return str(cn2an.cn2an(span, "smart"))
        except (ValueError, KeyError, IndexError):
            return span                             # 两三点 and the like: keep as said

    return _AMOUNT.sub(convert, text)
