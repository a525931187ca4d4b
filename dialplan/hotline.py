"""The generated dialplan: entry contexts, hand-over to the controller over
FastAGI, the safe fallback, and the simulated-caller and demo-seat contexts.

Pure: a DialplanSpec in, text out. Variable names come from pbx.chanvars.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pbx import chanvars as V

from .model import Context, Dialplan, Extension, steps

ENTRY = "from-pstn"
IVR = "hotline-ivr"
FALLBACK = "hotline-fallback"
SIM_CALLER = "hotline-sim-caller"
DEMO_SEAT = "hotline-demo-seat"
EXTERNAL = "hotline-external"
ON_ANSWER = "hotline-on-answer"
CALLBACK = "hotline-callback"
FALLBACK_QUEUE = "hotline-fallback"


@dataclass(frozen=True)
class DialplanSpec:
    agi_url: str                      # agi://127.0.0.1:PORT
    prompts: dict[str, str]           # prompt name -> file path without extension
    fallback_queue_timeout_s: int = 300
    fallback_members: tuple[str, ...] = ()   # interfaces: PJSIP/seat1001, Local/1001@hotline-demo-seat/n
    dids: tuple[str, ...] = ()        # DIDs with their own entry (all others use the catch-all)
    demo_talk_s: int = 3
    extra: tuple[Context, ...] = field(default_factory=tuple)


def _if_empty(var: str, default: str) -> str:
    return f'${{IF($["${{{var}}}" = ""]?{default}:${{{var}}})}}'


def build(spec: DialplanSpec) -> Dialplan:
    entry = Context(ENTRY, (
        Extension("_X.", steps(
            ("Set", f"__{V.DID}=${{EXTEN}}"),
            ("Goto", f"{IVR},s,1"),
        )),
        Extension("s", steps(
            ("Set", f"__{V.DID}="),
            ("Goto", f"{IVR},s,1"),
        )),
    ), comment="Every call from the network enters here, by the number dialled.")

    ivr = Context(IVR, (
        Extension("s", steps(
            ("Answer", "", "start"),
            ("Set", f"{V.NEXT}="),
            ("AGI", f"{spec.agi_url}/ivr", "agi"),
            ("GotoIf", f'$["${{{V.NEXT}}}" = ""]?{FALLBACK},s,1'),
            ("GotoIf", f'$["${{{V.NEXT}}}" = "hangup"]?done'),
            ("Goto", f"${{{V.NEXT}}}"),
            ("Hangup", "", "done"),
        )),
    ), comment="Hand the call to the controller; anything but a clear answer goes to the fallback.")

    fb_prompt = spec.prompts.get("fallback", "")
    sorry_prompt = spec.prompts.get("sorry", "")
    fallback = Context(FALLBACK, (
        Extension("s", steps(
            ("Set", f"{V.FALLBACK}=1"),
            ("Set", f"{V.FALLBACK_REASON}={_if_empty(V.FALLBACK_REASON, 'agi_${AGISTATUS}')}"),
            ("UserEvent", f"HotlineFallback,Reason: ${{{V.FALLBACK_REASON}}},Uniqueid: ${{UNIQUEID}}"),
            ("Answer", ""),
            ("Playback", fb_prompt, "prompt") if fb_prompt else ("NoOp", "no fallback prompt", "prompt"),
            ("Queue", f"{FALLBACK_QUEUE},t,,,{spec.fallback_queue_timeout_s}", "queue"),
            ("UserEvent", f"HotlineMissed,Reason: queue_${{QUEUESTATUS}},Uniqueid: ${{UNIQUEID}}"),
            ("Playback", sorry_prompt) if sorry_prompt else ("NoOp", "no sorry prompt"),
            ("Hangup", ""),
        )),
    ), comment="Safe fallback: a plain queue of all seats. Never dead air.")

    # The simulated caller sends audio all the time, as a phone line does (a
    # silent Local channel sends no frames, and silence detection never fires).
    line = spec.prompts.get("line_silence", "")
    idle = ("Playback", line) if line else ("Wait", "1")
    sim = Context(SIM_CALLER, (
        Extension("s", steps(
            ("NoOp", f"simulated caller ${{{V.SIM_ID}}}"),
            ("Set", f"TIMEOUT(absolute)={_if_empty(V.SIM_HOLD, '20')}"),
            ("Set", "i=0"),
            ("Wait", _if_empty(V.SIM_WAIT, "1")),
            ("While", f"$[${{i}} < ${{LEN(${{{V.SIM_KEYS}}})}}]", "keys"),
            ("Set", f"k=${{{V.SIM_KEYS}:${{i}}:1}}"),
            ("ExecIf", '$["${k}" != "w"]?SendDTMF(${k})'),
            ("Wait", _if_empty("SIM_KEY_GAP", "1")),
            ("Set", "i=$[${i} + 1]"),
            ("EndWhile", ""),
            ("ExecIf", f'$["${{{V.SIM_WAV}}}" != ""]?Playback(${{{V.SIM_WAV}}})'),
            ("Goto", "idle,1"),
        )),
        Extension("say", steps(
            ("Playback", f"${{{V.SIM_WAV}}}"),
            ("Goto", "idle,1"),
        )),
        Extension("idle", steps(
            idle,
            ("Goto", "idle,1"),
        )),
    ), comment="The caller side of a simulated call (tests, `hotline call`).")

    reply = spec.prompts.get("demo_reply", "")
    demo = Context(DEMO_SEAT, (
        Extension("_X.", steps(
            ("Answer", ""),
            ("Playback", reply) if reply else ("Wait", "1"),
            ("Wait", _if_empty("DEMO_TALK_S", str(spec.demo_talk_s))),
            ("Hangup", ""),
        )),
    ), comment="Demo seats: auto-answering Local channels that say a short reply.")

    on_answer = Context(ON_ANSWER, (
        Extension("s", steps(
            # Runs on the seat's channel when it answers (Dial U() option).
            # ARG1: recording base path, ARG2: call id, ARG3: seat id.
            ("MixMonitor", "${ARG1}.wav,r(${ARG1}-seat.wav)t(${ARG1}-caller.wav)"),
            ("UserEvent", "HotlineAnswered,CallId: ${ARG2},Seat: ${ARG3}"),
            ("Return", ""),
        )),
    ), comment="On answer: record caller and seat (mixed and each direction), tell the controller.")

    external = Context(EXTERNAL, (
        Extension("_X.", steps(
            ("UserEvent", "HotlineExternal,Number: ${EXTEN}"),
            ("Answer", ""),
            ("Wait", _if_empty("EXTERNAL_TALK_S", "2")),
            ("Hangup", ""),
        )),
    ), comment="Stand-in for external numbers (12366, 110...) when no trunk is configured.")

    callback = Context(CALLBACK, (
        Extension("s", steps(
            # The seat answered an Originate; now call the citizen back.
            # CB_DIAL: the citizen's dial string; CB_REC, CB_CALL_ID, CB_SEAT as for ON_ANSWER.
            ("UserEvent", "HotlineAnswered,CallId: ${CB_CALL_ID},Seat: ${CB_SEAT}"),
            ("Dial", f"${{CB_DIAL}},30,gU({ON_ANSWER}^${{CB_REC}}^${{CB_CALL_ID}}^${{CB_SEAT}})"),
            ("UserEvent", "HotlineCallbackResult,CallId: ${CB_CALL_ID},Seat: ${CB_SEAT},Status: ${DIALSTATUS}"),
            ("Hangup", ""),
        )),
    ), comment="Callbacks: the seat is called first (Originate), then the citizen.")

    return Dialplan(contexts=(entry, ivr, fallback, sim, demo, on_answer, callback, external)
                    + tuple(spec.extra))


def render(spec: DialplanSpec) -> str:
    return build(spec).render()


def render_fallback_queue(spec: DialplanSpec) -> str:
    lines = [
        f"[{FALLBACK_QUEUE}]",
        "strategy = rrmemory",
        "joinempty = yes",
        "leavewhenempty = no",
        "timeout = 15",
        "retry = 2",
        "wrapuptime = 5",
        "ringinuse = no",
        "musicclass = default",
        "announce-frequency = 0",
    ]
    lines += [f"member => {m}" for m in spec.fallback_members]
    return "\n".join(lines) + "\n"
