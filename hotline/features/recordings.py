"""Recordings: each call's recording kept (compressed) once the call is over,
and those older than recordings.retention_days deleted."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from recordings.keep import RecordingKeeper, sweep

log = logging.getLogger("hotline.features.recordings")
SWEEP_EVERY_S = 6 * 3600


@dataclass(kw_only=True)
class Recordings(Feature):
    keeper: RecordingKeeper


def load(deps: Deps, trees: Trees, busy: Callable[[str], bool]) -> Recordings:
    """busy(call id): the live transcript still reads that call's audio (the recording waits)."""
    s = deps.settings
    keeper = RecordingKeeper(trees.calls, s.recordings.compress, busy=busy)
    root, days = s.recordings_dir, s.recordings.retention_days

    async def retention() -> None:
        """At start, then every few hours."""
        while True:
            removed = await asyncio.to_thread(sweep, root, days)
            if removed:
                log.info("recordings: %d file(s) older than %d days deleted", removed, days)
            await asyncio.sleep(SWEEP_EVERY_S)

    return Recordings(keeper=keeper, closers=[keeper.close], tasks=[("recordings-retention", retention)])
