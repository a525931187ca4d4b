"""The composition root: the features in the order they are loaded, and one
`compose` for `hotline up`, the CLI, the tests and the benchmarks. Each
feature builds its own services (hotline/features/); the runtime
(hotline/runtime.py) owns the lifecycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, overload

from hotline.features import (
    callbacks,
    ivr,
    knowledge,
    leader,
    notices,
    recordings,
    records,
    revisit,
    routing,
    speech,
    tickets,
    transfers,
    web,
)
from hotline.features.base import Deps, Feature, controller_node, data_dir
from hotline.features.callbacks import Callbacks
from hotline.features.ivr import Ivr
from hotline.features.knowledge import Knowledge
from hotline.features.leader import Leader
from hotline.features.notices import Notices
from hotline.features.recordings import Recordings
from hotline.features.records import Records
from hotline.features.revisit import Revisit
from hotline.features.routing import Routing, SeatDialplan
from hotline.features.speech import Live, Speech
from hotline.features.tickets import Tickets
from hotline.features.transfers import Transfers
from hotline.features.web import Web
from hotline.runtime import ExtraContexts, Runtime
from hotline.settings import Settings
from pbx.ami import CONTROLLER_EVENTS

__all__ = ["Hotline", "compose", "controller_node", "data_dir", "load"]

R = TypeVar("R", bound=Runtime)


@dataclass(frozen=True)
class Hotline:
    """Every feature's bundle, typed (e.g. ``rt.hotline.routing.router``)."""

    routing: Routing
    callbacks: Callbacks
    transfers: Transfers
    speech: Speech
    tickets: Tickets
    live: Live
    recordings: Recordings
    ivr: Ivr
    records: Records
    notices: Notices
    knowledge: Knowledge
    revisit: Revisit
    leader: Leader
    web: Web

    @property
    def features(self) -> tuple[Feature, ...]:
        """In start order (AMI subscriptions, start hooks, background tasks); the closers run
        in reverse (the recording keeper first, the speech workers last)."""
        return (self.routing, self.callbacks, self.transfers, self.speech, self.tickets, self.live,
                self.recordings, self.ivr, self.records, self.notices, self.knowledge, self.revisit,
                self.leader, self.web)

    @property
    def seat_dialplan(self) -> SeatDialplan:
        return self.routing.dialplan


async def load(deps: Deps, *, demo_seats: int = 0, demo_wrap_up_s: float | None = None) -> Hotline:
    """Load the features in dependency order, each given the bundles it uses."""
    trees = await ivr.load_trees(deps)
    seats = await routing.load(deps, trees, demo_seats, demo_wrap_up_s)
    cbs = callbacks.load(deps, trees, seats)
    xfers = transfers.load(deps, trees, seats)
    stt = await speech.load(deps)

    def transcribing(call_id: str) -> bool:         # `live` is loaded below, before any call
        return live.transcriber is not None and call_id in live.transcriber.active

    recs = recordings.load(deps, trees, busy=transcribing)
    tix = tickets.load(deps, trees, stt.pool, keep=recs.keeper.describe_done, routing=seats)
    live = await speech.load_live(deps, trees, stt, tix, seats)
    rv = await revisit.load(deps, trees, seats, tix)
    walk = ivr.load(deps, trees, seats, cbs, xfers, tix, recs)
    return Hotline(routing=seats, callbacks=cbs, transfers=xfers, speech=stt, tickets=tix, live=live,
                   recordings=recs, ivr=walk, leader=leader.load(deps, walk, seats, tix),
                   records=records.load(deps, seats.store.prefix), notices=notices.load(deps, trees), revisit=rv,
                   knowledge=knowledge.load(deps, tix),
                   web=web.load(deps, trees, seats, tix))


@overload
def compose(settings: Settings, run_dir: Path, *, demo_seats: int = ..., demo_wrap_up_s: float | None = ...,
            features: bool = ..., extra_contexts: ExtraContexts | None = ..., persistent_redis: bool = ...,
            ami_events: str | None = ..., runtime: None = ...) -> Runtime: ...
@overload
def compose(settings: Settings, run_dir: Path, *, demo_seats: int = ..., demo_wrap_up_s: float | None = ...,
            features: bool = ..., extra_contexts: ExtraContexts | None = ..., persistent_redis: bool = ...,
            ami_events: str | None = ..., runtime: type[R]) -> R: ...
def compose(settings: Settings, run_dir: Path, *, demo_seats: int = 0, demo_wrap_up_s: float | None = None,
            features: bool = True, extra_contexts: ExtraContexts | None = None, persistent_redis: bool = True,
            ami_events: str | None = None, runtime: type[Runtime] | None = None) -> Runtime:
    """The hotline on this machine, not started yet (``await rt.start()``).

    demo_seats: the first N seats are simulated auto-answering phones, logged in at start;
    demo_wrap_up_s: their wrap-up (None: the seats config's). features=False: Redis, Asterisk, AMI
    and the web app only (benchmarks with their own controller). extra_contexts: more dialplan
    contexts (benchmarks, tests), f(agi_url, prompts). ami_events: the AMI event classes the controller's
    session asks for (default: only those it uses, pbx.ami.CONTROLLER_EVENTS; "on": all, for tests that
    watch calls on it). runtime: a Runtime subclass (tests).
    """
    async def loader(deps: Deps) -> Hotline:
        return await load(deps, demo_seats=demo_seats, demo_wrap_up_s=demo_wrap_up_s)

    return (runtime or Runtime)(settings, run_dir, load=loader if features else None, node=controller_node(settings),
                   extra_contexts=extra_contexts, persistent_redis=persistent_redis,
                   # the controller's AMI session asks only for the events it uses; MixMonitor writes one
                   # mixed file (the live transcript listens with ChanSpy); benchmarks without features
                   # watch every event
                   ami_events=ami_events or (CONTROLLER_EVENTS if features else "on"), record_directions=not features)
