"""Background loops that stop when cancelled, even when a client library swallowed the cancellation.

redis-py (8.1, on Python 3.11) can lose a cancellation that lands inside a command: asyncio.wait_for
around the socket I/O returns the result instead of raising, or the cancel comes out as a
ConnectionError. The request stays counted on the task (`Task.cancelling()`), so a loop that checks
for it stops anyway:

    while True:
        raise_if_cancelled()
        try:
            await redis.blpop(...)
        except RedisError as exc:
            raise_if_cancelled(exc)          # the error was a cancel in disguise
            ...

`every()` is the whole "do this every N seconds, log and go on after an error" loop.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("hotline.loops")


def raise_if_cancelled(cause: BaseException | None = None) -> None:
    """Raise CancelledError when the current task is being cancelled (a cancel someone swallowed).

    `cause`: the exception being handled, chained to the CancelledError."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        if cause is None:
            raise asyncio.CancelledError()
        raise asyncio.CancelledError() from cause


async def every(interval_s: float, step: Callable[[], Awaitable[object]], *, name: str,
                errors: tuple[type[BaseException], ...] = (Exception,),
                logger: logging.Logger | None = None) -> None:
    """Await `step()` every `interval_s` seconds, forever; an error in `errors` is logged with its
    traceback (as "`name` failed; trying again in N s") and the loop goes on. Stops when cancelled."""
    out = logger or log
    while True:
        raise_if_cancelled()
        try:
            await step()
        except errors as exc:
            raise_if_cancelled(exc)
            out.exception("%s failed; trying again in %g s", name, interval_s)
        await asyncio.sleep(interval_s)
