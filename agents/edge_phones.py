"""Seat phones registered at Kamailio (edge.registrar, issue 16): a seat whose phone is not in the edge's
location goes ready -> paused (离线), and back to ready when it registers again. The same transitions as
agents/phones.py makes from Asterisk's device states, with the registrar at the edge instead."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from redis.exceptions import RedisError

from agents.errors import AgentsError
from agents.service import PBX_IDLE, PBX_UNAVAILABLE, SeatService

log = logging.getLogger("agents.edge_phones")

Registered = Callable[[], Awaitable[set[str] | None]]


def phone_changes(users: dict[str, str], registered: set[str], known: dict[str, str]) -> dict[str, str]:
    """Pure: seat id -> its phone's state to apply (idle: registered, unavailable: not): those that differ
    from ``known`` (seat id -> the state last applied), and every unregistered one again (a seat that
    logged in since is paused 离线 too). ``users``: username -> seat id."""
    now = {seat: PBX_IDLE if user in registered else PBX_UNAVAILABLE for user, seat in users.items()}
    return {seat: st for seat, st in now.items() if known.get(seat) != st or st == PBX_UNAVAILABLE}


class EdgePhones:
    """Polls the edge's location and applies each change to the seat (SeatService.phone_changed)."""

    def __init__(self, seats: SeatService, users: Iterable[tuple[str, str]], registered: Registered,
                 every_s: float = 2.0) -> None:
        self.seats = seats
        self.users = {user: seat for seat, user in users}     # (seat id, username) pairs
        self.registered = registered
        self.every_s = every_s
        self.known: dict[str, str] = {}

    async def step(self) -> dict[str, str]:
        """One look at the location; the changes applied (seat id -> phone state)."""
        reg = await self.registered()
        if reg is None:                       # Kamailio did not answer: nothing concluded
            return {}
        changes = phone_changes(self.users, reg, self.known)
        for seat_id, st in changes.items():
            try:
                await self.seats.phone_changed(seat_id, st)
                self.known[seat_id] = st
            except (AgentsError, RedisError) as exc:
                log.warning("seat %s phone %s (edge): %s", seat_id, st, exc)
        return changes

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.every_s)
