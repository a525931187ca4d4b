"""The generated dialplan: entry contexts, hand-over to the controller over
FastAGI, the safe fallback, and the simulated-caller and demo-seat contexts.

Pure: a DialplanSpec in, text out. Every name shared with the controller
(variables, contexts, UserEvents, AGI scripts) comes from pbx.contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pbx import contract as V
from pbx.contract import (
    CALLBACK,
    CONF_BRIDGE_PROFILE,
    CONF_PARTY_PROFILE,
    CONFERENCE,
    DEMO_SEAT,
    ENTRY,
    EXTERNAL,
    FALLBACK,
    FALLBACK_QUEUE,
    IVR,
    LIVE_SPY,
    ON_ANSWER,
    REVISIT,
    SIM_CALLER,
    SPY,
)

from . import outbound as out
from .model import Context, Dialplan, Extension, steps

__all__ = ["CALLBACK", "CONFERENCE", "DEMO_SEAT", "ENTRY", "EXTERNAL", "FALLBACK", "FALLBACK_QUEUE", "IVR",
           "LIVE_SPY", "ON_ANSWER", "SIM_CALLER", "SPY", "DialplanSpec", "build", "render", "render_fallback_queue"]


@dataclass(frozen=True)
class DialplanSpec:
    agi_url: str                      # agi://127.0.0.1:PORT
    prompts: dict[str, str]           # prompt name -> file path without extension
    fallback_queue_timeout_s: int = 300
    fallback_members: tuple[str, ...] = ()   # interfaces: PJSIP/seat1001, Local/1001@hotline-demo-seat/n
    dids: tuple[str, ...] = ()        # DIDs with their own entry (all others use the catch-all)
    demo_talk_s: int = 3
    extra: tuple[Context, ...] = field(default_factory=tuple)
    out_trunks: tuple[out.OutboundTrunk, ...] = ()   # calls out leave through these, in order (hotline-out)
    out_international: tuple[str, ...] = ()          # 00 prefixes the dialling policy allows
    seat_out: tuple[tuple[str, str], ...] = ()       # (seat id, interface): what seat phones can dial by number
    # MixMonitor also writes each direction (BASE-caller.wav, BASE-seat.wav) for a live transcriber that
    # follows files (recordings/live.py without a spy capture); the controller's uses ChanSpy instead
    record_directions: bool = True


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
            ("AGI", f"{spec.agi_url}/{V.AGI_IVR}", "agi"),
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
            ("Set", f"{V.FALLBACK_MARK}=1"),
            ("Set", f"{V.FALLBACK_REASON}={_if_empty(V.FALLBACK_REASON, 'agi_${AGISTATUS}')}"),
            ("UserEvent", f"{V.UE_FALLBACK},Reason: ${{{V.FALLBACK_REASON}}},Uniqueid: ${{UNIQUEID}}"),
            ("Answer", ""),
            ("Playback", fb_prompt, "prompt") if fb_prompt else ("NoOp", "no fallback prompt", "prompt"),
            ("Queue", f"{FALLBACK_QUEUE},t,,,{spec.fallback_queue_timeout_s}", "queue"),
            ("UserEvent", f"{V.UE_MISSED},Reason: queue_${{{V.QUEUESTATUS}}},Uniqueid: ${{UNIQUEID}}"),
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
            # DEMO_SAY (inherited from the call, tests and benchmarks): what the seat says instead.
            ("Playback", _if_empty("DEMO_SAY", reply)) if reply else ("Wait", "1"),
            # Then stay on the line DEMO_TALK_S. With DEMO_LINE set, sending line noise as a phone
            # does (a Wait sends no frames on a Local channel: live transcription hears no pause).
            ("Set", f"talk={_if_empty('DEMO_TALK_S', str(spec.demo_talk_s))}"),
            *((("GotoIf", '$["${DEMO_LINE}" = "" | ${talk} <= 0]?quiet'),   # (absolute timeout 0 = none)
               ("Set", "TIMEOUT(absolute)=${talk}"),
               ("Playback", line, "noise"), ("Goto", "noise")) if line else ()),
            ("Wait", "${talk}", "quiet"),
            ("Hangup", "", "end"),
        )),
        Extension("T", steps(("Hangup", ""),)),
    ), comment="Demo seats: auto-answering Local channels that say a short reply.")

    on_answer = Context(ON_ANSWER, (
        Extension("s", steps(
            # Runs on the seat's channel when it answers (Dial U() option).
            # ARG1: recording base path, ARG2: call id, ARG3: seat id.
            ("MixMonitor", "${ARG1}.wav,r(${ARG1}-seat.wav)t(${ARG1}-caller.wav)" if spec.record_directions
             else "${ARG1}.wav"),
            # A REFER from the seat phone sends the caller to hotline-refer (a blind transfer the
            # controller carries out through the dialling policy), not into the seat's own context.
            ("Set", f"TRANSFER_CONTEXT={out.REFER}"),
            # Rec: the live transcriber follows the two per-direction files (recordings/live.py).
            ("UserEvent", f"{V.UE_ANSWERED},CallId: ${{ARG2}},Seat: ${{ARG3}},Rec: ${{ARG1}}"),
            ("Return", ""),
        )),
    ), comment="On answer: record caller and seat (mixed and each direction), tell the controller.")

    external = Context(EXTERNAL, (
        Extension("_X.", steps(
            ("UserEvent", f"{V.UE_EXTERNAL},Number: ${{EXTEN}}"),
            ("Answer", ""),
            ("Wait", _if_empty("EXTERNAL_TALK_S", "2")),
            ("Hangup", ""),
        )),
    ), comment="Stand-in for external numbers (12366, 110...) when no trunk is configured.")

    callback = Context(CALLBACK, (
        Extension("s", steps(
            # The seat answered an Originate; now call the citizen back.
            # CB_NUM: the citizen's number, checked by the dialling policy (agents/outbound.py) and
            # used here only filtered to digits: the dial string is built from fixed parts, never
            # taken from a variable. CB_REC, CB_CALL_ID, CB_SEAT as for ON_ANSWER.
            ("UserEvent", f"{V.UE_ANSWERED},CallId: ${{{V.CB_CALL_ID}}},Seat: ${{{V.CB_SEAT}}}"),
            ("Set", f"NUM=${{FILTER(0-9,${{{V.CB_NUM}:0:{out.MAX_DIGITS}}})}}"),
            ("GotoIf", f"$[${{LEN(${{NUM}})}} = 0 | ${{LEN(${{NUM}})}} != ${{LEN(${{{V.CB_NUM}}})}}]?refused"),
            ("Dial", f"Local/${{NUM}}@{out.OUT},30,gU({ON_ANSWER}^${{{V.CB_REC}}}^${{{V.CB_CALL_ID}}}^${{{V.CB_SEAT}}})"),
            ("UserEvent", f"{V.UE_CALLBACK_RESULT},CallId: ${{{V.CB_CALL_ID}}},Seat: ${{{V.CB_SEAT}}},"
                          f"Status: ${{{V.DIALSTATUS}}}"),
            ("Hangup", ""),
            ("UserEvent", f"{V.UE_CALLBACK_RESULT},CallId: ${{{V.CB_CALL_ID}}},Seat: ${{{V.CB_SEAT}}},"
                          f"Status: {V.CALLBACK_REFUSED}",
             "refused"),
            ("Hangup", ""),
        )),
    ), comment="Callbacks: the seat is called first (Originate), then the citizen.")

    revisit = Context(REVISIT, (
        Extension("s", steps(
            # The citizen answered a satisfaction callback (Originate of Local/<number>@hotline-out):
            # the controller runs the revisit tree; nothing else happens on this leg.
            ("Set", f"{V.NEXT}="),
            ("AGI", f"{spec.agi_url}/{V.AGI_REVISIT}"),
            ("Hangup", ""),
        )),
    ), comment="Satisfaction callbacks (回访): the revisit tree on the citizen's answered leg.")

    join = ("ConfBridge", f"${{{V.CONF}}},{CONF_BRIDGE_PROFILE},{CONF_PARTY_PROFILE}")
    conference = Context(CONFERENCE, (
        # seat: the operator's channel, redirected here over AMI (three-way, attended);
        # external: the transfer target's leg, originated here when it answers.
        Extension(V.ROLE_SEAT, steps(
            ("Set", f"{V.CONF_ROLE}={V.ROLE_SEAT}"),
            join,
            ("Hangup", ""),
        )),
        Extension(V.ROLE_EXTERNAL, steps(
            ("Set", f"{V.CONF_ROLE}={V.ROLE_EXTERNAL}"),
            ("UserEvent", f"{V.UE_TRANSFER_JOINED},CallId: ${{{V.CALL_ID}}},Transfer: ${{{V.TRANSFER}}}"),
            join,
            ("Hangup", ""),
        )),
        Extension("h", steps(
            ("UserEvent", f"{V.UE_CONF_LEFT},CallId: ${{{V.CALL_ID}}},Transfer: ${{{V.TRANSFER}}},"
                          f"Role: ${{{V.CONF_ROLE}}},Conference: ${{{V.CONF}}}"),
        )),
    ), comment="Transfers: the operator and the target in the call's conference (the caller joins from its session).")

    spy = Context(SPY, (
        Extension("s", steps(
            # The supervisor's own phone, called first (Originate), then put on the seat's channel.
            ("Answer", ""),
            ("ChanSpy", f"${{{V.SPY_TARGET}}},${{{V.SPY_OPTIONS}}}"),
            ("Hangup", ""),
        )),
    ), comment="Supervisors listen to (q), whisper to (w) or barge into (B) a seat's call (pbx/spy.py).")

    live_spy = Context(LIVE_SPY, (
        # ;2 of Local/spy@LIVE_SPY (originated by pbx/live_audio.py): hear only the audio coming from
        # LIVE_SPY_TARGET (o: that party's voice), quietly (q), until it hangs up (E) or is not there
        # (S). ;1 runs the EAGI script that forwards what this half hears (fd 3) to the controller.
        Extension("spy", steps(
            ("Answer", ""),
            ("ChanSpy", f"${{{V.LIVE_SPY_TARGET}}},qoES"),
            ("Hangup", ""),
        )),
        # ;1 goes here (Originate by context: the AMI user may not Originate EAGI, issue #12 #9)
        Extension("eagi", steps(("EAGI", f"${{{V.LIVE_EAGI_ARGS}}}"), ("Hangup", ""))),
        # or Asterisk itself streams it (AudioSocket, 18+; the UUID is the stream's key)
        Extension("audiosocket", steps(("AudioSocket", f"${{{V.LIVE_AUDIO_KEY}}},${{{V.LIVE_AUDIO_SERVICE}}}"), ("Hangup", ""))),
    ), comment="Live transcription: one direction of a bridged call into an EAGI reader (recordings/live.py).")

    return Dialplan(contexts=(entry, ivr, fallback, sim, demo, on_answer, callback, revisit, external, conference, spy,
                              live_spy, out.build(spec.out_trunks, stand_in=EXTERNAL, international=spec.out_international),
                              out.seat_out(spec.seat_out, spec.agi_url, out_var=V.OUT_NUM), out.refer(spec.agi_url)) + tuple(spec.extra))


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
