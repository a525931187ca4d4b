"""Routing and seats: the Redis routing store, the Router (lanes, matching),
the seats (login, ready, pause, their phones), the dialling policy, the
resync with Asterisk, and the demo seats of `hotline up --demo-seats`."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.config import SeatsConfig, load_seats
from agents.delivery import DeliverySettings
from agents.errors import AgentsError
from agents.lanes import LaneFollower
from agents.node_actions import NodeActions
from agents.outbound import DialLimiter, Outbound
from agents.phones import PhoneWatch
from agents.resync import RedisLossWatch, Resync, restored_logins
from agents.seat_out import SeatOutHandler
from agents.secrets import seat_credentials
from agents.service import Router, SeatService
from agents.store import RoutingStore
from dialplan.kamailio import render_node_seats
from dialplan.seats import render_pjsip
from hotline.features.base import Deps, Feature, data_dir
from hotline.features.ivr import Trees
from pbx.contract import AGI_SEAT_OUT, seat_interface
from pbx.events import DeviceStateChange
from web.error_map import api_error

log = logging.getLogger("hotline.features.routing")


@dataclass(frozen=True)
class SeatDialplan:
    """What the generated Asterisk config needs of the seats."""

    pjsip: str = ""                                  # pjsip_seats.conf
    seat_out: tuple[tuple[str, str], ...] = ()       # (seat id, interface) seat phones dial by number
    fallback_members: tuple[str, ...] = ()           # the fallback queue's members
    users: tuple[tuple[str, str], ...] = ()          # (seat id, SIP username) of the real seats' phones


@dataclass(kw_only=True)
class Routing(Feature):
    config: SeatsConfig
    store: RoutingStore
    router: Router
    seats: SeatService
    outbound: Outbound
    delivery: DeliverySettings
    demo: list[str]                 # the demo seats (auto-answering Local channels), logged in at start
    lanes: LaneFollower
    resync: Resync
    redis_lost: RedisLossWatch      # Redis lost its data under us: the live state rebuilt (others add hooks)
    phones: PhoneWatch
    dialplan: SeatDialplan
    actions: NodeActions            # actions on a call run on its node (others register their handlers)


def _refusal(exc: Exception) -> tuple[int, str, str, dict[str, object]] | None:
    """A node action's refusal as the web would answer it here (None: a fault)."""
    e = api_error(exc)
    return (e.status, e.error_id, e.message, e.details) if e is not None else None


async def load(deps: Deps, trees: Trees, demo_seats: int = 0, demo_wrap_up_s: float | None = None) -> Routing:
    """demo_wrap_up_s: the demo seats' wrap-up after each call (None: the seats config's wrap_up_s);
    as for any seat, `hotline seats ready` or the console ends it early."""
    s, node = deps.settings, deps.node
    cfg = load_seats(s.path(s.agents.seats), lanes=trees.pinned.tree.lanes.keys())
    store = RoutingStore(deps.redis, cfg)
    await store.load_scripts()
    router = Router(store, trees.pinned.tree.lanes)
    records = deps.records
    seats = SeatService(store, notify=router.poke, history=records.writer.seat if records else None)
    demo = sorted(cfg.seats)[:demo_seats]
    delivery = DeliverySettings(
        ring_timeout_s=cfg.ring_timeout_s, announce_every_s=cfg.announce_every_s,
        callback_offer_after_s=cfg.callback.offer_after_s, demo_seats=frozenset(demo),
        demo_wrap_up_s=demo_wrap_up_s,
        recordings_dir=s.recordings_dir, outbound_dial=s.transfer.dial, max_wait_s=s.agents.max_wait_s)
    outbound = Outbound(s.dialling.policy, DialLimiter(deps.redis))
    asterisk = deps.asterisk

    async def booted() -> None:
        # after a restart AMI answers before PJSIP is loaded; asked over the control socket (the
        # AMI user has no command class)
        await asyncio.to_thread(asterisk.cli, "core waitfullybooted", 30.0)

    # with Kamailio as the seats' registrar their registration is read from it (agents/edge_phones.py), not
    # from this node's device states, and no node owns a seat: any node's caller is answered at any seat
    edge_registrar = s.edge is not None and s.edge.registrar is not None
    resync = Resync(router, deps.ami, node=node, seat_ids=cfg.seats, demo_seats=demo,
                    dead_after_s=s.routing.dead_after_s, booted=booted, registrar_here=not edge_registrar)
    phones = PhoneWatch(seats, node, [sid for sid in cfg.seats if sid not in set(demo)])
    lanes = LaneFollower(router, trees.versions, trees.trees, version=trees.pinned.version)
    creds = seat_credentials(cfg, data_dir(s))
    interfaces = tuple((sid, seat_interface(sid, sid in delivery.demo_seats)) for sid in sorted(cfg.seats))
    # with Kamailio as the seats' registrar (edge.registrar) every node rings a seat through it
    pjsip = render_node_seats(s.edge, creds) if s.edge is not None and edge_registrar else \
        render_pjsip(creds, srtp=s.seats_sip.srtp, qualify_s=s.seats_sip.qualify_s)
    dialplan = SeatDialplan(pjsip=pjsip, seat_out=interfaces, fallback_members=tuple(i for _, i in interfaces),
                            users=tuple((sid, user) for sid, (user, _) in sorted(creds.items()) if sid not in demo))

    actions = NodeActions(deps.redis, node, prefix=store.prefix, error_status=_refusal)

    async def node_failed(call_ids: tuple[str, ...]) -> None:
        """A dead node's callers put on the callback list: their call records say so."""
        for cid in call_ids:
            try:
                await trees.calls.missed(cid)
            except Exception:
                log.exception("call %s: call record not marked missed after its node died", cid)

    async def beat() -> None:
        await store.beat(node)       # alive before the resync: others leave our calls alone

    async def demo_login() -> None:
        for seat_id, op in zip(demo, list(cfg.operators), strict=False):
            with contextlib.suppress(AgentsError):
                await seats.logout(seat_id)
            try:
                await seats.login(seat_id, op)
                await store.claim_seats(node, [seat_id])
            except AgentsError as exc:            # e.g. still on a live call another controller holds
                log.warning("demo seat %s: not logged in again (%s)", seat_id, exc.error_id)

    async def logins_from_records() -> None:
        """Who was logged in at which seat (and paused why), from the records' seat history."""
        assert records is not None
        from records.store import last_seat_events

        await records.writer.drain(5)                # the last changes still spooled written first
        async with records.db.pool.acquire(timeout=5) as conn:
            last = await last_seat_events(conn, list(cfg.seats))
        for seat_id, op, reason in restored_logins(last):
            try:
                await seats.login(seat_id, op, pause_reason=reason)
                log.warning("seat %s: operator %s logged in again from the records (%s)", seat_id, op,
                            reason or "ready")
            except AgentsError as exc:
                log.warning("seat %s: operator %s not logged in again (%s)", seat_id, op, exc.error_id)
        if demo:
            await store.claim_seats(node, demo)      # the demo seats' phones are Local channels here

    # the seats as the records last saw them (demo seats too); without records the demo seats as at start
    rebuild: list[Callable[[], Awaitable[object]]] = [trees.trees.republish_lost, store.load_scripts, beat]
    rebuild += [logins_from_records, resync] if records is not None else [resync, demo_login]
    redis_lost = RedisLossWatch(deps.redis, store.key("alive", node), rebuild)

    async def mark() -> None:
        await redis_lost.mark()      # what Redis losing its data takes with it

    return Routing(
        config=cfg, store=store, router=router, seats=seats, outbound=outbound, delivery=delivery, demo=demo,
        lanes=lanes, resync=resync, redis_lost=redis_lost, phones=phones, dialplan=dialplan, actions=actions,
        agi={AGI_SEAT_OUT: SeatOutHandler(outbound, deps.say)},
        ami=[] if edge_registrar else [(DeviceStateChange, phones.on_event)],
        tasks=[("router", router.run),
               ("heartbeat", lambda: router.keep_alive(node, s.routing.dead_after_s, on_node_failed=node_failed)),
               ("lanes", lanes.run), ("redis-lost", redis_lost.run), ("node-actions", actions.run)],
        on_start=[beat, mark],
        # first the resync: a seat left "on call" by a controller that died is freed
        after_start=[resync, demo_login],
        on_ami_reconnect=[resync])          # Asterisk restarted (or AMI lost): line Redis up again
