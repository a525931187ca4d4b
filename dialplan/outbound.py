"""Calls out through the trunks, as dialplan (pure): the ``hotline-out`` context.

Everything the hotline dials out goes to ``Local/<number>@hotline-out`` (see
agents/outbound.py: the number was checked by the dialling policy there). The
context takes nothing from the caller but the extension, and uses it only
after ``FILTER(0-9,…)`` and a check that filtering changed nothing, so no value
is re-parsed as a dial string or options. The dial strings themselves are
built from fixed parts (the trunk's endpoint name).

Each trunk in order: the caller ID is set to the trunk's ``caller_id`` (the
hotline's number; display name plain ASCII or none) before its Dial, so the
carrier sees From and P-Asserted-Identity with the hotline's number, never the
citizen's. The next trunk is tried when the Dial ends with

- ``CONGESTION`` (the trunk answered 503/500/502/504 or "all circuits busy"),
- ``CHANUNAVAIL`` (the trunk is unreachable, not qualified, or refused the
  request before ringing: no route, not registered),

and not on ``BUSY`` (486: the called line itself is busy, another carrier
would ring the same busy line), ``NOANSWER``, ``CANCEL`` or ``ANSWER``. When the
last trunk fails the Local channel hangs up with that Dial's cause, so the
leg that dialled it sees the same DIALSTATUS.

Without trunks, numbers go to the ``hotline-external`` stand-in (tests, demo).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pbx import contract as V
from pbx.contract import OUT, REFER, SEAT_OUT

from .model import Context, Extension, steps

__all__ = ["FAILOVER_STATUSES", "MAX_DIGITS", "OUT", "REFER", "SEAT_OUT", "OutboundTrunk", "build", "from_trunks",
           "refer", "seat_out"]
FAILOVER_STATUSES = ("CONGESTION", "CHANUNAVAIL")
MAX_DIGITS = 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_CALLER_ID = re.compile(r"\+?[0-9]{2,20}")
_DISPLAY = re.compile(r"[A-Za-z0-9 _.-]{0,40}")   # plain ASCII, nothing that needs quoting in SIP


@dataclass(frozen=True)
class OutboundTrunk:
    """One trunk calls leave through, in the order they are tried."""

    endpoint: str            # the PJSIP endpoint of the trunk
    caller_id: str           # the hotline's number, presented on every call out
    display_name: str = ""   # plain ASCII or none
    ring_s: int = 60         # longest ring through this trunk

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.endpoint):
            raise ValueError(f"trunk endpoint: expected letters, digits, _ . -, got {self.endpoint!r}")
        if not _CALLER_ID.fullmatch(self.caller_id):
            raise ValueError(f"trunk {self.endpoint}: caller_id must be 2..20 digits, got {self.caller_id!r}")
        if not _DISPLAY.fullmatch(self.display_name):
            raise ValueError(f"trunk {self.endpoint}: display_name must be plain ASCII letters, digits, "
                             f"space _ . - (at most 40), got {self.display_name!r}")
        if not 5 <= int(self.ring_s) <= 300:
            raise ValueError(f"trunk {self.endpoint}: ring_s must be 5..300")


def from_trunks(trunks, default_caller_id: str = "12345") -> tuple[OutboundTrunk, ...]:
    """The trunks calls leave through: those with an outbound address or a registration and an
    ``outbound_order`` above 0, lowest order first (ties: as listed in the settings). A trunk without
    caller_id presents ``default_caller_id``, never the citizen's number."""
    usable = [t for t in trunks if (t.outbound is not None or t.register is not None)
              and getattr(t, "outbound_order", 1) > 0]
    usable.sort(key=lambda t: getattr(t, "outbound_order", 1))       # (stable: ties keep their order)
    return tuple(OutboundTrunk(endpoint=t.endpoint, caller_id=t.caller_id or default_caller_id,
                               display_name=t.display_name) for t in usable)


def build(trunks: Sequence[OutboundTrunk], *, stand_in: str = V.EXTERNAL,
          international: Sequence[str] = ()) -> Context:
    """``international``: the ``00`` prefixes the dialling policy allows (all others are refused here
    too, so a controller bug cannot dial abroad: the policy is checked first in agents/outbound.py)."""
    for p in international:
        if not re.fullmatch(r"00[0-9]{1,18}", p):
            raise ValueError(f"international prefix: expected 00 and digits, got {p!r}")
    tries: list[tuple] = []
    if not trunks:
        tries.append(("Dial", f"Local/${{NUM}}@{stand_in}", "try0"))
    for i, t in enumerate(trunks):
        tries += [
            ("Set", f'CALLERID(all)="{t.display_name}" <{t.caller_id}>', f"try{i}"),
            ("Set", "CALLERID(pres)=allowed_passed_screen"),
            ("Set", f"OUT_TRUNK={t.endpoint}"),
            ("Dial", f"PJSIP/${{NUM}}@{t.endpoint},{int(t.ring_s)}"),
            ("UserEvent", f"{V.UE_OUT_TRY},Trunk: {t.endpoint},Status: ${{{V.DIALSTATUS}}},Uniqueid: ${{UNIQUEID}}"),
            ("GotoIf", _failover_test() + f"?try{i + 1}:over"),
        ]
    n = len(trunks) if trunks else 1
    ext = Extension("_X.", steps(
        # Only the extension comes in; it is used only once filtered to digits (and unchanged by that).
        ("Set", f"NUM=${{FILTER(0-9,${{EXTEN:0:{MAX_DIGITS}}})}}"),
        # (lengths compared, not the strings: a raw value is never put inside an expression's quotes)
        ("GotoIf", "$[${LEN(${NUM})} != ${LEN(${EXTEN})}]?refused"),
        ("GotoIf", '$["${NUM:0:2}" != "00"]?try0'),          # (NUM is digits only: safe inside quotes)
        *[("GotoIf", f'$["${{NUM:0:{len(p)}}}" = "{p}"]?try0') for p in international],
        ("Goto", "refused"),
        *tries,
        ("NoOp", "every trunk failed", f"try{n}"),
        ("Hangup", f"${{{V.HANGUPCAUSE}}}", "over"),
        ("UserEvent", f"{V.UE_OUT_REFUSED},Uniqueid: ${{UNIQUEID}}", "refused"),
        ("Hangup", "21"),                     # call rejected
    ))
    return Context(OUT, (ext,), comment="Calls out: the checked number through the trunks in order (failover).")


def _failover_test() -> str:
    return "$[" + " | ".join(f'"${{{V.DIALSTATUS}}}" = "{s}"' for s in FAILOVER_STATUSES) + "]"


def seat_out(seats: Sequence[tuple[str, str]], agi_url: str, *, ring_s: int = 30, out_var: str = V.OUT_NUM,
             ) -> Context:
    """Seat phones' context. ``seats``: (seat id, interface) — a colleague's seat by its number;
    anything else is an external number: the controller's ``seat-out`` handler puts it through the
    dialling policy (and tells the operator why when it refuses), and only the number it returns,
    filtered to digits, is dialled through hotline-out. REFER from a seat lands here too (blind
    transfer to the extension in the seat's context)."""
    exts = []
    for seat_id, iface in seats:
        if not re.fullmatch(r"[0-9]{2,20}", seat_id):
            continue          # a seat id with letters (allowed in the seats config) cannot be keyed on a phone
        if not re.fullmatch(r"(PJSIP|Local)/[0-9A-Za-z@/_.-]+", iface):
            raise ValueError(f"seat {seat_id!r}: not a dialable seat ({iface!r})")
        exts.append(Extension(seat_id, steps(
            ("Dial", f"{iface},{int(ring_s)}"),
            ("Hangup", ""),
        )))
    external = steps(
        ("Set", f"{out_var}="),
        ("AGI", f"{agi_url}/{V.AGI_SEAT_OUT}"),
        ("Set", f"NUM=${{FILTER(0-9,${{{out_var}:0:{MAX_DIGITS}}})}}"),
        ("GotoIf", f"$[${{LEN(${{NUM}})}} = 0 | ${{LEN(${{NUM}})}} != ${{LEN(${{{out_var}}})}}]?refused"),
        ("Dial", f"Local/${{NUM}}@{OUT},60"),
        ("Hangup", ""),
        ("Hangup", "21", "refused"),
    )
    exts += [Extension("_X.", external), Extension("_+X.", external)]
    return Context(SEAT_OUT, tuple(exts), comment="Seat phones: a colleague's seat by number, external numbers "
                                                  "through the dialling policy.")


def refer(agi_url: str) -> Context:
    """The caller's channel after its seat REFERred it (the seat's TRANSFER_CONTEXT, set on answer):
    back to the controller, which checks the number with the dialling policy, records the blind
    transfer on the call and dials the target through hotline-out. The extension is only read by the
    controller (as AGI data), never used in a dial string here."""
    ext = steps(
        ("AGI", f"{agi_url}/{V.AGI_REFER}"),
        ("Hangup", ""),
    )
    return Context(REFER, (Extension("_X.", ext), Extension("_+X.", ext)),
                   comment="A seat's REFER: the caller's blind transfer, carried out by the controller.")
