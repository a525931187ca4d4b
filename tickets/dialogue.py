"""Callback number and caller name from a whole conversation, both speakers.

Each speaker turn has been normalized on its own (tickets/normalize.py: phone
digits in ASCII). Numbers are read in the order they were said and resolved:

- a third party's number (the scammer's, the landlord's, a relative's) is not
  the callback number unless the caller says to use it (打这个号码);
- a correction (…三四，说错了，是四三 / 不对，是 138…) replaces the number before
  it, a short run of digits patching its tail;
- the operator's read-back counts as said; a caller's 不对 after it rejects it;
- of two numbers the one the caller picks (打座机就行, 打这个) wins; else the
  last one still standing.

Names: the caller's own introduction (我叫 / 我姓 / 姓王 / 王先生) with the
recogniser's split (王 小明) joined, and the operator's address (好的王先生).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tickets.contacts import Found, _occurrences, _phone_in, find_caller_name
from tickets.normalize import SPOKEN_DIGITS
from tickets.places import PlaceMention
from tickets.rules import CallbackRules, NameRules
from tickets.turns import CALLER, OPERATOR

_RUN = re.compile(r"\d{7,}")
_SHORT = re.compile(f"[0-9{''.join(SPOKEN_DIGITS)}]{{1,6}}")
CORRECTION = ("说错了", "说错", "讲错了", "念错了", "报错了", "不对", "错了", "更正一下", "更正", "重新说", "纠正一下")
_CORRECTION_LEAD = ("最后两位", "最后三位", "最后四位", "最后一位", "后两位", "后三位", "后四位", "尾号", "后面",
                    "应该是", "是", "为")
THIRD_PARTY = ("骗子", "对方", "他的", "她的", "他电话", "她电话", "那个人", "那人", "老板", "包工头", "房东", "中介",
               "商家", "店家", "店里", "客服", "物业", "公司", "司机", "邻居", "儿子", "女儿", "老公", "老婆", "丈夫",
               "妻子", "爸爸", "妈妈", "父亲", "母亲", "朋友", "同事", "亲戚", "他们", "师傅的", "骗我", "陌生")
CHOOSE_AFTER = ("打这个", "就打这个", "用这个", "联系这个", "回这个", "打这个号码", "这个号码联系", "这个能打通",
                "打这个就行", "就这个")
CHOOSE_LANDLINE = ("打我座机", "打座机", "座机就行", "打家里", "家里座机", "打固话", "座机联系")
CHOOSE_MOBILE = ("打我手机", "打手机", "手机就行", "手机联系", "打我电话")
NOT_THIS = ("不要打这个", "别打这个", "这个打不通", "这个不用", "这个停机", "不用这个", "这个号码不用", "已经停机",
            "不常用")
NO = ("不对", "错了", "不是", "说错")


@dataclass
class _Said:
    order: int
    speaker: str
    number: str
    start: int
    end: int
    turn: int
    third_party: bool = False
    chosen: int = 0
    dropped: bool = False


def _short_digits(text: str) -> str | None:
    for lead in _CORRECTION_LEAD:
        if text.startswith(lead):
            text = text[len(lead):]
            break
    m = _SHORT.match(text)
    if not m:
        return None
    return "".join(SPOKEN_DIGITS.get(c, c) for c in m.group(0))


def _third_party(before: str) -> bool:
    """A third party's word owns the number: 骗子的号码是…, 老板电话… (not 投诉他们，我电话是…)."""
    pos, word = max(((before.rfind(w), w) for w in THIRD_PARTY), default=(-1, ""))
    if pos < 0:
        return False
    rest = before[pos + len(word):]
    if "我" in rest:
        return False
    return not rest or any(c in rest for c in ("电话", "号码", "手机", "的", "是", "座机"))


def find_callback(turns: list[tuple[str, str]], rules: CallbackRules) -> Found:
    """The callback number over normalized `(speaker, text)` turns."""
    said: list[_Said] = []
    odd: list[str] = []
    for t, (speaker, text) in enumerate(turns):
        runs = [m for m in _RUN.finditer(text) if m.group(0) not in rules.ignore_numbers]
        for m in runs:
            number = _phone_in(m.group(0), rules.area_code)
            if number is None:
                odd.append(m.group(0))
                continue
            before = text[max(0, m.start() - 10):m.start()]
            after = text[m.end():m.end() + 14]
            item = _Said(len(said), speaker, number, m.start(), m.end(), t)
            item.third_party = _third_party(before)
            if any(after.startswith(w) or w in after[:10] for w in CHOOSE_AFTER) or any(w in before for w in CHOOSE_AFTER):
                item.chosen = 2
            if any(w in after[:10] for w in NOT_THIS):
                item.dropped = True
            said.append(item)
        # corrections inside this turn: a cue after a number replaces or patches it
        for cue in CORRECTION:
            for cm in _occurrences(cue, text):
                prev = [s for s in said if s.turn == t and s.end <= cm.start() and not s.dropped]
                if not prev:
                    continue
                last = prev[-1]
                nxt = [s for s in said if s.turn == t and s.start >= cm.end()]
                if nxt and nxt[0].start - cm.end() <= 8:
                    last.dropped = True                      # a whole new number follows
                    continue
                tail = _short_digits(text[cm.end():cm.end() + 12])
                digits = last.number.replace("-", "")
                if tail and len(tail) < len(digits):
                    patched = digits[: len(digits) - len(tail)] + tail
                    fixed = _phone_in(patched, rules.area_code)
                    if fixed:
                        last.number = fixed
    # the operator's read-back: the caller's next turn accepts or rejects it
    for s in said:
        if s.speaker != OPERATOR:
            continue
        reply = next((txt for sp, txt in turns[s.turn + 1:] if sp == CALLER), "")
        if reply.startswith(NO):
            s.dropped = True
    # which kind the caller asked to be called on
    caller_words = "".join(txt for sp, txt in turns if sp == CALLER)
    want_landline = any(w in caller_words for w in CHOOSE_LANDLINE)
    want_mobile = any(w in caller_words for w in CHOOSE_MOBILE) and not want_landline
    for s in said:
        if want_landline and s.number.startswith(rules.area_code + "-"):
            s.chosen = max(s.chosen, 1)
        if want_mobile and not s.number.startswith(rules.area_code + "-"):
            s.chosen = max(s.chosen, 1)
    live = [s for s in said if not s.dropped and (not s.third_party or s.chosen)]
    if not live:
        if odd:
            return Found(None, 0.0, tuple(odd), f"number heard is not a phone number ({len(odd[0])} digits)")
        if said:
            return Found(None, 0.0, tuple(s.number for s in said), "only a third party's number was said")
        return Found(None, 0.0, (), "no number said")
    best = max(live, key=lambda s: (s.chosen, s.order))
    distinct = {s.number for s in live}
    confidence = 0.95 if len(distinct) == 1 else (0.85 if best.chosen else 0.7)
    span = (best.start, best.end) if best.turn == _caller_turn_index(turns, best.turn) else None
    return Found(best.number, confidence, (best.number,), span=span)


def _caller_turn_index(turns: list[tuple[str, str]], index: int) -> int:
    return index


_TITLED = re.compile(r"(先生|女士|小姐|阿姨|大姐|大哥|老师|师傅)")
_SELF_TITLED = re.compile(r"(先生|女士|小姐)")
_SURNAME_CUE = re.compile(r"(?<![百老])姓(?!名)")


def find_name(turns: list[tuple[str, str, frozenset[int]]], rules: NameRules,
              places_of: Callable[[str], list[PlaceMention]]) -> Found:
    """The caller's name over normalized `(speaker, text, boundaries)` turns."""
    best: Found | None = None
    asked_name = False
    for speaker, text, bounds in turns:
        if speaker == CALLER and asked_name and len(text) <= 4:
            bare = _bare_answer(text, rules)               # 您贵姓？ — 张。
            if bare and (best is None or _rank(bare) > _rank(best)):
                best = bare
        asked_name = speaker == OPERATOR and any(w in text for w in ASK_NAME)
        if speaker == CALLER:
            found = find_caller_name(text, bounds, rules, places_of(text))
            if found.value is None and found.reason == "caller asked to stay anonymous":
                return found
            found = _joined(found, text, bounds, rules)
            if found.value is None:
                found = _bare_cues(text, rules, 0.7, titles=_SELF_TITLED)
        else:
            found = _bare_cues(text, rules, 0.75, addressed=True)
        if found.value and (best is None or _rank(found) > _rank(best)):
            best = found
    return best or Found(None, 0.0, (), "no name given")


ASK_NAME = ("贵姓", "怎么称呼", "姓什么", "叫什么名字", "您的姓名", "留一下您的姓名", "留个姓名", "尊姓")


def _bare_answer(text: str, rules: NameRules) -> Found | None:
    """A short reply to the operator's name question: 张 / 姓张 / 张先生 / 欧阳."""
    t = text[1:] if text.startswith("姓") else text
    for compound in rules.compound_surnames:
        if t.startswith(compound):
            return Found(compound, 0.7, (text,))
    if t[:1] in rules.surnames and all(c not in rules.stop_chars for c in t[1:2]):
        name = t[:1] + (t[1:3] if len(t) <= 3 and not any(t[1:].startswith(x) for x in rules.titles) else "")
        return Found(name, 0.7, (text,))
    return None


def _rank(f: Found) -> tuple[float, int]:
    return (round(f.confidence + 0.05 * (len(f.value or "") > 1), 3), len(f.value or ""))


def _repeated(found: Found, text: str, bounds: frozenset[int], rules: NameRules) -> Found:
    """我姓刘，刘伟 / 我姓欧阳 欧阳建国: the family name said again with the given name after it."""
    if not found.value or not found.span:
        return found
    sur, end = found.value, found.span[1]
    pos = end + (text[end:end + 1] in "，,、 ")
    if text.startswith(("叫", "名叫"), pos):           # 免贵姓赵，叫赵敏
        pos += 1 if text[pos] == "叫" else 2
    if not text.startswith(sur, pos):
        return found
    start = pos + len(sur)
    given = ""
    for ch in text[start:start + 2]:
        if not "\u4e00" <= ch <= "\u9fff" or ch in rules.stop_chars or ch in "先女小师阿老":
            break
        given += ch
    if given and len(given) == 2 and bounds and start + 1 in bounds and start + 2 not in bounds:
        given = given[:1]
    if not given:
        return found
    return Found(sur + given, 0.85, (sur + given,), span=(found.span[0], start + len(given)))


def _joined(found: Found, text: str, bounds: frozenset[int], rules: NameRules) -> Found:
    """王 小明 said as two words: the given name is the next short word after the family name."""
    if found.value and found.span and found.evidence and found.evidence[0][: -len(found.value)].endswith("姓"):
        return _repeated(found, text, bounds, rules)
    if not found.value or len(found.value) != 1 or not found.span:
        return found
    cue_end = found.span[1]
    if text[cue_end - 1:cue_end] != found.value:
        return found
    cue = found.evidence[0][: -1] if found.evidence else ""
    if cue.endswith(("叫我", "喊我")) or cue.endswith("老") or cue.endswith("小"):
        return found
    nxt = sorted(b for b in bounds if b > cue_end)
    for end in nxt[:2]:
        given = text[cue_end:end]
        if 1 <= len(given) <= 2 and all("\u4e00" <= c <= "\u9fff" and c not in rules.stop_chars for c in given) \
                and not any(given.startswith(t) for t in rules.titles):
            return Found(found.value + given, 0.85, (found.value + given,), span=(found.span[0], end))
    return found


_OTHERS = ("那个", "一个", "有个", "他", "她", "对方", "老板", "那位", "这个")


def _someone_else(text: str, start: int, end: int) -> bool:
    """姓彭的医生, 那个姓王的, 老板姓李: a third party's family name, not the caller's."""
    return text.startswith("的", end) or text[max(0, start - 3):start].endswith(_OTHERS)


def _bare_cues(text: str, rules: NameRules, confidence: float, addressed: bool = False,
               titles: re.Pattern[str] | None = None) -> Found:
    """姓王 (no 我), 王先生 / 王女士, the operator's 好的王先生."""
    if not addressed:
        for m in _SURNAME_CUE.finditer(text):
            pos = m.end()
            for compound in rules.compound_surnames:
                if text.startswith(compound, pos) and not _someone_else(text, m.start(), pos + len(compound)):
                    return Found(compound, confidence, ("姓" + compound,), span=(m.start(), pos + len(compound)))
            ch = text[pos:pos + 1]
            if ch and ch in rules.surnames and not _someone_else(text, m.start(), pos + 1):
                return Found(ch, confidence, ("姓" + ch,), span=(m.start(), pos + 1))
    for m in (titles or _TITLED).finditer(text):
        s = m.start()
        for compound in rules.compound_surnames:
            if text[:s].endswith(compound):
                return Found(compound, confidence, (compound + m.group(0),), span=(s - len(compound), m.end()))
        ch = text[s - 1:s]
        prior = text[max(0, s - 3):s - 1]
        if ch and ch in rules.surnames and (prior.endswith("好的") or not prior.endswith(("的", "个", "那", "这", "位"))):
            return Found(ch, confidence - (0.1 if not addressed and not prior.endswith(("是", "我")) else 0.0),
                         (ch + m.group(0),), span=(s - 1, m.end()))
    return Found(None, 0.0)
