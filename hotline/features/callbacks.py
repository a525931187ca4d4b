"""Callbacks and the dispatcher: this controller's routing decisions handed to
the calls waiting here, and callbacks placed (seat first, then the citizen)."""
from __future__ import annotations

from dataclasses import dataclass

from agents.callbacks import Callbacks as CallbackAttempts
from agents.delivery import Dispatcher
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing


@dataclass(kw_only=True)
class Callbacks(Feature):
    callbacks: CallbackAttempts
    dispatcher: Dispatcher


def load(deps: Deps, trees: Trees, routing: Routing) -> Callbacks:
    d = routing.delivery
    attempts = CallbackAttempts(routing.router, routing.outbound, deps.ami, trees.calls,
                                recordings_dir=d.recordings_dir, ring_timeout_s=d.ring_timeout_s,
                                demo_seats=d.demo_seats)
    dispatcher = Dispatcher(routing.router, deps.node, originate=attempts.originate, tasks=deps.tasks)
    routing.redis_lost.rebuild.append(dispatcher.requeue_lost)      # the calls waiting here, back in their lanes
    return Callbacks(callbacks=attempts, dispatcher=dispatcher,
                     ami=[(CallbackAttempts.EVENTS, attempts.on_event)], tasks=[("dispatcher", dispatcher.run)])
