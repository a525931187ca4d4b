"""Stopping the runtime is bounded: a step that hangs is reported and left behind, the rest still run."""
from __future__ import annotations

import asyncio
import logging
import time

from hotline import runtime as rt
from hotline.features.base import Feature
from hotline.settings import load


async def test_a_hanging_closer_does_not_hold_the_stop(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(rt, "STEP_STOP_S", 0.3)
    ran: list[str] = []

    async def hangs() -> None:
        ran.append("hangs")
        await asyncio.Event().wait()

    async def after() -> None:
        ran.append("after")

    class OneFeature:
        features = (Feature(closers=[hangs, after]),)

    r = rt.Runtime(load(env={}), tmp_path, persistent_redis=False, hotline=OneFeature())
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger=rt.log.name):
        await r.stop()
    assert ran == ["hangs", "after"]                 # the step after the stuck one still ran
    assert time.monotonic() - started < 2.0
    assert any("did not finish within" in m for m in caplog.messages)


async def test_started_runs_the_features_in_order_and_stop_reverses_the_closers(tmp_path):
    order: list[str] = []

    class FakeAMI:
        def subscribe(self, kinds, handler):
            order.append(f"subscribe {kinds}")

        async def close(self):
            order.append("ami closed")

    def hook(label):
        async def run():
            order.append(label)
        run.__qualname__ = label
        return run

    async def loop():
        order.append("task ran")
        await asyncio.Event().wait()

    class Two:      # (the runtime hands each feature's event kinds to AMIClient.subscribe as they are)
        features = (Feature(ami=[("Hangup", print)], on_start=[hook("a start")], tasks=[("loop", loop)],
                            after_start=[hook("a after")], closers=[hook("a closed")]),
                    Feature(ami=[(("DialEnd", "Hangup"), print)], on_start=[hook("b start")],
                            closers=[hook("b closed 1"), hook("b closed 2")]))

    r = rt.Runtime(load(env={}), tmp_path, persistent_redis=False, hotline=Two())
    r.ami = FakeAMI()
    await r._started()
    await asyncio.sleep(0)
    assert order == ["subscribe Hangup", "subscribe ('DialEnd', 'Hangup')", "a start", "b start", "a after", "task ran"]
    assert [t.get_name() for t in r.tasks] == ["loop"]
    order.clear()
    await r.stop()
    assert order == ["b closed 1", "b closed 2", "a closed", "ami closed"]
    assert all(t.done() for t in r.tasks)
