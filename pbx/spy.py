"""Supervision over AMI: a supervisor listens to, whispers to or barges into
a seat's call. Their own phone is called first (Originate); when it answers
it runs the `hotline-spy` context (dialplan/hotline.py), whose ChanSpy is put
on the seat's channel with the options of the mode.

    target = seat_channel(await ami.core_show_channels(), seat_interface("1004", demo=False))
    await originate_spy(ami, phone=seat_interface("1003", demo=False), target=target, mode="listen")
"""
from __future__ import annotations

from collections.abc import Iterable

from pbx import contract as V
from pbx.ami import AMIClient
from pbx.contract import SPY
from pbx.events import CoreShowChannel

# ChanSpy options per mode: q quiet (no beep, no channel name spoken), w whisper
# (the supervisor talks to the seat only), B barge (talks to both sides), E end
# when the spied-on channel hangs up.
MODES: dict[str, str] = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}


def spy_options(mode: str) -> str:
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown supervision mode {mode!r} (one of {', '.join(MODES)})") from None


def channel_prefix(interface: str) -> str:
    """A dialled interface -> the prefix of the channels it makes ("PJSIP/1004" -> "PJSIP/1004-")."""
    return interface.removesuffix("/n") + "-"


def seat_channel(channels: Iterable[CoreShowChannel], interface: str, call_id: str | None = None) -> str | None:
    """The seat's channel in a call (pure; `channels`: CoreShowChannels' rows): a channel made
    by dialling `interface` — with a Local seat its ;1 half, the one bridged with the caller — in the
    call `call_id` (same Linkedid as the channel whose Uniqueid is the call id) when that is given and
    found, bridged ones first; None when there is none."""
    prefix = channel_prefix(interface)
    rows = list(channels)
    found = [r for r in rows if r.channel.startswith(prefix) and not r.channel.endswith(";2")]
    linked = next((r.linkedid for r in rows if call_id and r.uniqueid == call_id and r.linkedid), None)
    if linked is not None:
        found = [r for r in found if r.linkedid == linked] or found
    pick = [r for r in found if r.bridge_id] or found
    return pick[0].channel if pick else None


async def originate_spy(ami: AMIClient, *, phone: str, target: str, mode: str, channel_id: str,
                        caller_id: str = '"班长监听" <0>', ring_s: int = 30) -> None:
    """Call the supervisor's phone; once answered it spies on `target` (a channel name)."""
    await ami.originate(phone, context=SPY, exten="s", caller_id=caller_id, timeout_ms=ring_s * 1000,
                        channel_id=channel_id,
                        variables={V.SPY_TARGET: target, V.SPY_OPTIONS: spy_options(mode)})
