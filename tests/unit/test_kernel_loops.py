"""kernel.loops: a loop stops on a cancellation a client library swallowed, and `every` logs and goes on."""
import asyncio
import logging

import pytest

from kernel.loops import every, raise_if_cancelled


async def test_a_swallowed_cancel_is_raised_by_the_next_check():
    checked = asyncio.Event()

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass                              # what redis-py sometimes does inside a command
            checked.set()
            raise_if_cancelled()

    t = asyncio.create_task(loop())
    await asyncio.sleep(0)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(t, 2)
    assert checked.is_set()


async def test_a_cancel_in_disguise_is_chained_to_its_error():
    async def step() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            err = ConnectionError("connection lost")
            try:
                raise err
            except ConnectionError as exc:
                raise_if_cancelled(exc)
            raise AssertionError("not reached") from None

    t = asyncio.create_task(step())
    await asyncio.sleep(0)
    t.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await t
    assert isinstance(info.value.__cause__, ConnectionError)


async def test_no_cancel_no_raise():
    raise_if_cancelled()
    raise_if_cancelled(ValueError("x"))


async def test_every_logs_an_error_goes_on_and_stops_when_cancelled(caplog):
    calls = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("redis down")

    caplog.set_level(logging.ERROR, logger="hotline.loops")
    t = asyncio.create_task(every(0.01, step, name="check"))
    while len(calls) < 4:
        await asyncio.sleep(0.01)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    failed = [r for r in caplog.records if r.getMessage() == "check failed; trying again in 0.01 s"]
    assert len(failed) == 1 and failed[0].exc_info[0] is RuntimeError


async def test_every_lets_other_errors_through():
    async def step() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await every(0.01, step, name="check", errors=(RuntimeError,))
