"""Dialplan for `hotline bench stt --live` (bench/live.py): a two-party
call whose halves say a WAV each at known times, recorded by MixMonitor as
the product records answered calls (the ChanSpy capture uses the product's
own `hotline-live-spy` context). Pure: text out."""
from __future__ import annotations

from dialplan.model import Context, Extension, steps

TALK = "hotline-bench-live"


def contexts() -> tuple[Context, ...]:
    # SILENCE: one second of line silence; both halves send audio all the time, as phones do.
    talk = Context(TALK, (
        # The ;2 half of Local/op@TALK: the seat's channel (answers, records, says OP_WAV after 1 s).
        # On this half, audio read = the caller's voice, audio written = the operator's.
        Extension("op", steps(
            ("Answer", ""),
            ("MixMonitor", "${REC}.wav,r(${REC}-caller.wav)t(${REC}-seat.wav)"),
            ("UserEvent", "BenchLiveUp,Rec: ${REC}"),
            ("Playback", "${SILENCE}"),
            ("UserEvent", "BenchSpeak,Who: operator"),
            ("Playback", "${OP_WAV}"),
            ("Set", "TIMEOUT(absolute)=${TALK_S}"),
            ("Playback", "${SILENCE}", "noise"),
            ("Goto", "noise"),
        )),
        Extension("T", steps(("Hangup", ""),)),
        # The ;1 half: the caller, who speaks CALLER_WAV after CALLER_DELAY whole seconds.
        Extension("caller", steps(
            ("Set", "i=0"),
            ("While", "$[${i} < ${CALLER_DELAY}]"),
            ("Playback", "${SILENCE}"),
            ("Set", "i=$[${i} + 1]"),
            ("EndWhile", ""),
            ("UserEvent", "BenchSpeak,Who: caller"),
            ("Playback", "${CALLER_WAV}"),
            ("Playback", "${SILENCE}", "noise"),
            ("Goto", "noise"),
        )),
    ), comment="Benchmark of live capture: a conversation with known speech times.")
    return (talk,)
