"""A set of background tasks that somebody owns: held until done (asyncio keeps only weak references
to tasks), a failure logged, and all of them cancelled and awaited at the end.

Two kinds: jobs (short tasks, e.g. a callback being placed: forgotten once done) and loops
(`loop=True`: the controller's background loops, kept also once ended, so diagnostics can say how
each ended). `close()` cancels and awaits everything; `stop(timeout)` does the same bounded, for a
shutdown that must not hang on a task that swallowed its cancellation.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

log = logging.getLogger("hotline.tasks")


class TaskSet:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()        # running (jobs and loops)
        self._loops: list[asyncio.Task[Any]] = []          # every loop started, in order

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None,
              loop: bool = False) -> asyncio.Task[Any]:
        """Start `coro` as a task held by this set until it ends; an exception it ends with is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        if loop:
            self._loops.append(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self.name, task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        """The tasks still running."""
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        """The loops in start order (also those that ended), then the jobs still running."""
        loops = set(self._loops)
        return iter([*self._loops, *(t for t in self._tasks if t not in loops)])

    async def close(self) -> None:
        """Cancel every task still running and wait for them to end."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def stop(self, timeout: float) -> list[asyncio.Task[Any]]:
        """Cancel every task still running and wait up to `timeout` s; returns those that did not
        end (logged and left behind: a task that swallowed its cancel must not hold the stop)."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if not tasks:
            return []
        _, stuck = await asyncio.wait(tasks, timeout=timeout)
        for t in stuck:
            log.error("%s: task %s did not stop within %g s; left behind", self.name, t.get_name(), timeout)
        return list(stuck)
