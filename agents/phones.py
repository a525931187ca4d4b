"""Seat phones: a softphone seat that unregisters goes ready -> paused (离线),
and back to ready when it registers again (AMI DeviceStateChange)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable

from redis.exceptions import RedisError

from agents.errors import AgentsError
from agents.service import PBX_IDLE, PBX_UNAVAILABLE, SeatService, phone_state
from pbx.contract import seat_interface
from pbx.events import DeviceStateChange

log = logging.getLogger("agents.phones")


class PhoneWatch:
    """The device states of the PJSIP seats' endpoints (demo seats have none)."""

    def __init__(self, seats: SeatService, node: str, seat_ids: Iterable[str]) -> None:
        self.seats = seats
        self.node = node
        self.phones = {seat_interface(sid, False): sid for sid in seat_ids}   # device -> seat id

    async def changed(self, e: DeviceStateChange) -> None:
        st, seat_id = phone_state(e.state), self.phones[e.device]
        # Only idle and unavailable say anything about registration: ringing and in use (twice per
        # call) change nothing, and skipping them saves four Redis round trips per call.
        if st not in (PBX_IDLE, PBX_UNAVAILABLE):
            return
        try:
            if st != PBX_UNAVAILABLE:                  # registered here: this node's seat
                await self.seats.store.claim_seats(self.node, [seat_id])
            await self.seats.phone_changed(seat_id, st)
        except (AgentsError, RedisError) as exc:
            log.warning("seat %s phone %s: %s", seat_id, st, exc)

    def on_event(self, e: DeviceStateChange) -> Awaitable[None] | None:
        """For the DeviceStateChange subscription: only the seats' phones."""
        return self.changed(e) if e.device in self.phones else None
