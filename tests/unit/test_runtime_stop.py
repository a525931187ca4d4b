"""Stopping the runtime is bounded: a step that hangs is reported and left behind, the rest still run."""
from __future__ import annotations

import asyncio
import logging
import time

from hotline import runtime as rt
from hotline.settings import load


async def test_a_hanging_closer_does_not_hold_the_stop(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(rt, "STEP_STOP_S", 0.3)
    ran: list[str] = []

    async def hangs() -> None:
        ran.append("hangs")
        await asyncio.Event().wait()

    async def after() -> None:
        ran.append("after")

    r = rt.Runtime(load(env={}), tmp_path, persistent_redis=False)
    r.closers = [hangs, after]
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger=rt.log.name):
        await r.stop()
    assert ran == ["hangs", "after"]                 # the step after the stuck one still ran
    assert time.monotonic() - started < 2.0
    assert any("did not finish within" in m for m in caplog.messages)
