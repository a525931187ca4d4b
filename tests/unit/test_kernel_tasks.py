"""kernel.tasks.TaskSet: holds its tasks until they end, logs a failure, cancels the rest on close."""
import asyncio
import contextlib
import gc
import logging

from kernel.tasks import TaskSet


async def test_a_task_is_held_until_it_ends_then_forgotten():
    tasks = TaskSet("t")
    done = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.01)
        gc.collect()                       # nobody else holds the task: the set must
        done.set()

    tasks.spawn(work(), name="w")
    assert len(tasks) == 1
    await asyncio.wait_for(done.wait(), 2)
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_a_failure_is_logged_with_the_task_name(caplog):
    caplog.set_level(logging.ERROR, logger="hotline.tasks")
    tasks = TaskSet("dispatcher")

    async def boom() -> None:
        raise RuntimeError("no AMI")

    t = tasks.spawn(boom(), name="callback-c1")
    await asyncio.wait([t])
    await asyncio.sleep(0)
    rec = [r for r in caplog.records if r.getMessage() == "dispatcher: task callback-c1 failed"]
    assert len(rec) == 1 and rec[0].exc_info[0] is RuntimeError


async def test_close_cancels_and_awaits_what_is_left():
    tasks = TaskSet("t")
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    t = tasks.spawn(forever())
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.close(), 2)
    assert t.cancelled() and cancelled.is_set() and len(tasks) == 0


async def test_loops_are_kept_once_ended_jobs_are_forgotten():
    ts = TaskSet("runtime")
    loop = ts.spawn(asyncio.Event().wait(), name="loop", loop=True)
    done = asyncio.Event()

    async def job():
        done.set()
    ts.spawn(job(), name="job")
    await done.wait()
    await asyncio.sleep(0)
    assert list(ts) == [loop] and len(ts) == 1
    assert await ts.stop(1.0) == []
    assert loop.cancelled() and list(ts) == [loop] and len(ts) == 0      # (diagnostics: how it ended)


async def test_stop_leaves_a_task_that_swallows_its_cancel_behind(caplog):
    ts = TaskSet("runtime")
    release = asyncio.Event()

    async def stubborn():
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)
    task = ts.spawn(stubborn(), name="stubborn", loop=True)
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="hotline.tasks"):
        stuck = await ts.stop(0.1)
    assert stuck == [task] and "runtime: task stubborn did not stop within" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task})
