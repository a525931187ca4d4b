"""Speaker turns of a transcript: who said what.

Two forms come in. The live call gives structured turns
(`[{"speaker": "caller"|"operator", "text": ...}, ...]`, see recordings/live.py);
typed or exported text marks turns with a label at the start of a line or
sentence: `话务员：…` / `来电人：…` (also 坐席, 客服, 接线员, 市民, 用户, 群众 …,
full- or half-width colon). Text without labels is one caller turn.

The label itself is never part of a turn's text, so 来电人 cannot be read as
来电 (power restored). `Dialogue.caller_text` is what carries the appeal,
category and urgency; `Dialogue.all_turns` is where numbers, names and
places are looked for, the operator's read-back included.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CALLER = "caller"
OPERATOR = "operator"

CALLER_LABELS = ("来电人", "来电者", "来电群众", "来电市民", "市民", "用户", "群众", "居民", "求助人", "投诉人",
                 "客户", "来电", "caller", "Caller", "乘客", "家属")
OPERATOR_LABELS = ("话务员", "接线员", "坐席员", "坐席", "座席", "客服", "工作人员", "操作员", "热线", "12345",
                   "operator", "Operator", "agent", "Agent")
_SPEAKER_OF = {**{w: CALLER for w in CALLER_LABELS}, **{w: OPERATOR for w in OPERATOR_LABELS}}
_LABEL_ALT = "|".join(re.escape(w) for w in sorted(_SPEAKER_OF, key=len, reverse=True))
# A label at the start of the text, of a line, or after sentence punctuation; spaces allowed
# around it and inside a recogniser-spaced label (话 务 员 ：).
_LABEL = re.compile(
    rf"(?:^|(?<=[\n。！？!?；;]))[ \t\u3000]*(?P<label>{_LABEL_ALT}|"
    + "|".join(" ?".join(map(re.escape, w)) for w in sorted(_SPEAKER_OF, key=len, reverse=True) if len(w) > 1)
    + r")[ \t\u3000]*[：:]"
)
_SPEAKER_WORDS = {"caller": CALLER, "customer": CALLER, "citizen": CALLER, "remote": CALLER,
                  "operator": OPERATOR, "seat": OPERATOR, "agent": OPERATOR}


@dataclass(frozen=True)
class Turn:
    speaker: str            # CALLER or OPERATOR
    text: str


@dataclass(frozen=True)
class Dialogue:
    turns: tuple[Turn, ...]
    labelled: bool          # whether speakers were marked (a live call, or labels in the text)

    @property
    def caller_text(self) -> str:
        """The caller's words, one line per turn (everything when no speaker is marked)."""
        said = [t.text for t in self.turns if t.speaker == CALLER]
        return "\n".join(said) if said or self.labelled else "\n".join(t.text for t in self.turns)

    @property
    def plain(self) -> str:
        """All words, labels left out, one line per turn."""
        return "\n".join(t.text for t in self.turns)


def split_turns(source: str | Iterable[Mapping[str, Any]] | None) -> Dialogue:
    """Speaker turns from labelled text, structured turns, or plain text (one caller turn)."""
    if source is None:
        return Dialogue((), False)
    if not isinstance(source, str):
        return _structured(source)
    matches = list(_LABEL.finditer(source))
    if not matches:
        text = source.strip()
        return Dialogue((Turn(CALLER, text),) if text else (), False)
    turns: list[Turn] = []
    head = source[: matches[0].start()].strip()
    if head:
        turns.append(Turn(CALLER, head))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(source)
        text = source[m.end():end].strip()
        label = m.group("label").replace(" ", "")
        if text:
            turns.append(Turn(_SPEAKER_OF[label], text))
    return Dialogue(tuple(turns), True)


def _structured(items: Iterable[Mapping[str, Any]]) -> Dialogue:
    turns = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = str(item.get("text") or "").strip()
        speaker = _SPEAKER_WORDS.get(str(item.get("speaker") or "caller").lower(), CALLER)
        if text:
            turns.append(Turn(speaker, text))
    return Dialogue(tuple(turns), True)


def render(turns: Iterable[Mapping[str, Any]]) -> str:
    """Structured turns as labelled text (`来电人：…` / `话务员：…`), one line per turn."""
    d = _structured(turns)
    return "\n".join(f"{'来电人' if t.speaker == CALLER else '话务员'}：{t.text}" for t in d.turns)
