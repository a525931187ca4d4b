"""The Router decides with the lanes of the tree published now (priorities,
overflow times), not only with those of the tree current at start.

Lanes a newer tree dropped are kept (calls may still wait in them), with
their last known settings. Checked every ``interval_s`` on every controller.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from redis.exceptions import RedisError

from agents.policy import Rules
from agents.service import Router
from ivr.problems import TreeInvalid
from ivr.versions import VersionError
from kernel.loops import raise_if_cancelled

log = logging.getLogger("agents.lanes")


class Versions(Protocol):
    async def current_number(self) -> int | None: ...


class Trees(Protocol):
    async def get(self, number: int) -> Any: ...


class LaneFollower:
    def __init__(self, router: Router, versions: Versions, trees: Trees, *, version: int | None,
                 interval_s: float = 1.0) -> None:
        self.router = router
        self.versions = versions
        self.trees = trees
        self.version = version          # the tree version whose lanes the router has
        self.interval_s = interval_s

    async def check(self) -> None:
        number = await self.versions.current_number()
        if number is None or number == self.version:
            return
        pinned = await self.trees.get(number)
        router = self.router
        router.rules = Rules.build({**router.rules.lanes, **pinned.tree.lanes}, router.config)
        self.version = number
        router.poke()
        log.info("routing lanes from tree version %d: %s", number, ", ".join(
            f"{ln.id} (priority {ln.priority}"
            + (f", overflow after {ln.overflow.after_s} s to {ln.overflow.to})" if ln.overflow else ")")
            for ln in router.rules.lanes.values()))

    async def run(self) -> None:
        while True:
            raise_if_cancelled()             # redis-py can swallow a cancel inside a command
            try:
                await self.check()
            except (RedisError, VersionError, TreeInvalid) as exc:
                raise_if_cancelled(exc)
                log.warning("routing lanes not refreshed from the published tree: %s", exc)
            await asyncio.sleep(self.interval_s)
