"""Republishing the generated config while a call is in progress: the new
dialplan is live for the next call, the call in progress is not cut, and a
rendering failure keeps the last good config."""
from __future__ import annotations

import asyncio

import pytest

from devstack.simcall import place_call
from dialplan.model import Context, Extension, steps
from dialplan.publish import PublishError
from pbx import contract as V
from pbx.agi import AGISession

pytestmark = pytest.mark.asterisk


async def test_reload_during_a_call_and_last_good_kept(fresh):
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(s: AGISession) -> None:
        await s.answer()
        started.set()
        await release.wait()
        await s.set_variable(V.NEXT, "hangup")

    fresh.use(slow)
    first = asyncio.ensure_future(place_call(fresh.ami, hold=20, timeout=40))
    await asyncio.wait_for(started.wait(), 10)
    marker = Context("hotline-reload-marker", (Extension("s", steps(("NoOp", "reloaded"),)),))
    before = fresh.extra_contexts
    fresh.extra_contexts = lambda agi_url, prompts: (marker,)
    try:
        await fresh.republish_config()
        assert "hotline-reload-marker" in await asyncio.to_thread(
            fresh.asterisk.cli, "dialplan show hotline-reload-marker")
        release.set()
        result = await first
        assert result.completed and not result.fallback     # the call in progress was not cut

        def broken(agi_url, prompts):
            raise ValueError("a rendering bug")
        fresh.extra_contexts = broken
        kept = (fresh.asterisk.etc / "extensions_hotline.conf").read_text()
        with pytest.raises(PublishError):
            await fresh.republish_config()
        assert (fresh.asterisk.etc / "extensions_hotline.conf").read_text() == kept
    finally:
        fresh.extra_contexts = before
        await fresh.republish_config()
