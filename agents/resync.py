"""Resync: line Redis up with what Asterisk has, after a controller or an
Asterisk restart (or a lost AMI session): the channels up, and each seat's
phone (its device state; demo seats: their Local channels). RedisLossWatch runs it, and puts the
calls waiting here back, when Redis loses its data under a running controller."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from redis.exceptions import RedisError

from agents.service import PBX_IDLE, PBX_UNAVAILABLE, Router, seat_phone_states
from kernel.loops import raise_if_cancelled
from pbx.ami import AMIError
from pbx.contract import DEMO_SEAT, seat_interface
from pbx.events import CoreShowChannel, DeviceState

log = logging.getLogger("agents.resync")


class PbxView(Protocol):
    async def core_show_channels(self) -> list[CoreShowChannel]: ...
    async def device_state(self, device: str) -> DeviceState: ...


class Resync:
    def __init__(self, router: Router, ami: PbxView, *, node: str, seat_ids: Iterable[str],
                 demo_seats: Iterable[str], dead_after_s: float,
                 booted: Callable[[], Awaitable[None]] | None = None, registrar_here: bool = True) -> None:
        self.router = router
        # False when the seats register elsewhere (Kamailio, edge.registrar): this node's device states then
        # say nothing about registration (each node rings a seat through a fixed contact at the edge), so
        # no seat is claimed as this node's and none is judged 离线 from them (agents/edge_phones.py does)
        self.registrar_here = registrar_here
        self.ami = ami
        self.node = node
        self.seat_ids = list(seat_ids)
        self.demo = set(demo_seats)
        self.dead_after_s = dead_after_s
        self.booted = booted        # waits for Asterisk fully booted (after a restart AMI answers early)

    async def __call__(self) -> None:
        try:
            if self.booted is not None:
                await self.booted()
            channels = await self.ami.core_show_channels()
            devices: Mapping[str, DeviceState] = {
                sid: await self.ami.device_state(seat_interface(sid, False))
                for sid in self.seat_ids if sid not in self.demo}
        except AMIError as exc:
            log.warning("resync skipped: %s", exc)
            return
        live = {c.uniqueid for c in channels} | {c.linkedid for c in channels}
        pbx = seat_phone_states(self.seat_ids, self.demo, devices, [c.channel for c in channels], DEMO_SEAT)
        if self.registrar_here:
            registered = [sid for sid in self.seat_ids
                          if sid not in self.demo and pbx.get(sid) not in (None, PBX_UNAVAILABLE)]
            await self.router.store.claim_seats(self.node, registered)     # phones registered on our Asterisk
        else:
            pbx = {sid: PBX_IDLE if st == PBX_UNAVAILABLE else st for sid, st in pbx.items()}
        report = await self.router.resync(live, pbx, node=self.node, dead_after_s=self.dead_after_s)
        log.info("resync (phones %s): %s", pbx, report)


class RedisLossWatch:
    """Notices that Redis lost its data under a running controller (FLUSHALL, or restarted empty):
    a marker key of this node's, set at start, is gone. Then the live state is rebuilt at once
    rather than at the next restart: the routing scripts loaded again, this node beats, the resync
    with Asterisk, and `rebuild` hooks (the calls waiting here put back in their lanes in their
    place). The records are not Redis's to lose: they went to PostgreSQL first (records/).

    Also when another Redis server answers (its run_id changed: Sentinel promoted a replica, or
    Redis restarted from its append-only file) with the marker still there: asynchronous
    replication and `appendfsync everysec` may have lost the last writes, so the same rebuild runs
    (every hook is safe on state that is still whole)."""

    def __init__(self, redis, key: str, rebuild: Iterable[Callable[[], Awaitable[object]]], *,
                 every_s: float = 1.0) -> None:
        self.redis = redis
        self.key = key
        self.rebuild = list(rebuild)
        self.every_s = every_s
        self.lost = 0                 # how many times it was lost (and the state rebuilt)
        self.server: str | None = None  # the run_id of the Redis server last seen

    async def mark(self) -> None:
        await self.redis.set(self.key, str(time.time()))

    async def _server(self) -> str | None:
        try:
            info = await self.redis.info("server")
        except RedisError:
            raise
        except Exception:               # a stand-in without INFO (unit tests' fakes)
            return None
        run_id = info.get("run_id") if isinstance(info, dict) else None
        return str(run_id) if run_id else None

    async def check(self) -> bool:
        """One look: True when the data was lost or another server answers (and the state rebuilt)."""
        server = await self._server()
        changed = self.server is not None and server is not None and server != self.server
        self.server = server or self.server
        if await self.redis.exists(self.key):
            if not changed:
                return False
            log.warning("another Redis server answers (a failover, or a restart from its file): the last "
                        "writes may be lost; rebuilding the live state (seats, calls waiting here)")
        else:
            log.warning("Redis lost its data (flushed, or restarted empty): rebuilding the live state "
                        "(seats, calls waiting here); the records are in PostgreSQL")
        await self.mark()
        for hook in self.rebuild:
            try:
                await hook()
            except Exception:
                log.exception("rebuilding the live state after Redis lost its data: %s failed",
                              getattr(hook, "__qualname__", hook))
        self.lost += 1                # (counted once rebuilt)
        return True

    async def run(self) -> None:
        while True:
            raise_if_cancelled()
            try:
                await self.check()
            except RedisError:
                pass                  # Redis away: the others log it; looked at again when back
            await asyncio.sleep(self.every_s)


def restored_logins(last_events: Iterable[Mapping[str, object]]) -> list[tuple[str, str, str | None]]:
    """Pure: from each seat's last state change kept in the records (seat, operator, event, reason),
    the logins to put back after Redis lost them: (seat, operator, pause reason or None for ready).
    A seat whose last change was a logout, or with no operator, stays logged out."""
    out = []
    for e in last_events:
        seat, op, event, reason = e.get("seat"), e.get("operator"), e.get("event"), e.get("reason")
        if not seat or not op or event == "logout":
            continue
        paused = event == "pause" or (event == "login" and bool(reason))
        out.append((str(seat), str(op), str(reason) if paused and reason else None))
    return sorted(out)
