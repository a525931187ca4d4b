"""Small helpers shared by the end-to-end tests."""
from __future__ import annotations

import os
from pathlib import Path

from ivr.versions import VersionError


async def publish(stack, doc, comment: str) -> int:
    """Publish a tree document on the test stack; an unchanged tree keeps its current version."""
    versions = stack.hotline.ivr.versions
    try:
        return (await versions.publish(doc, "e2e", comment)).number
    except VersionError as exc:
        if exc.error_id == "unchanged":
            return await versions.current_number()
        raise


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def audio_seconds(path: str | Path) -> float:
    """The length of a recording in any format sox reads (WAV, or the kept OGG/FLAC)."""
    import subprocess

    out = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout
    return float(out)


def as_wav(path: str | Path, folder: Path) -> Path:
    """A kept recording as 8 kHz 16-bit mono WAV (for the tests' own WAV reader)."""
    import subprocess

    src = Path(path)
    if src.name.endswith(".wav"):
        return src
    out = Path(folder) / f"{src.name}.wav"
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True)
    return out


async def kept_account(calls, call_id: str, timeout: float = 150) -> dict:
    """The call's record once the caller's account was transcribed and kept (recordings/keep.py:
    compressed before the draft is filed, so ``ticket`` set means ``describe_recording`` is final).
    The wait is long: one speech worker reads every account of the test's calls, and on a loaded
    machine it reads a 30 s account in more than 30 s (a CI run on two busy cores took over 60 s)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    rec: dict = {}
    while time.monotonic() < deadline:
        rec = (await calls.get(call_id)) or {}
        if rec.get("ticket") and rec.get("describe_recording") and Path(rec["describe_recording"]).exists():
            return rec
        await asyncio.sleep(0.2)
    raise AssertionError(f"call {call_id}: the caller's account was not kept within {timeout} s: {rec}")


async def use_tree(stack, doc, comment: str) -> int:
    """Publish `doc`, let the stack's IVR handler (on the wall clock) take the calls and wait until the
    router has the published tree's lanes; the version published."""
    import asyncio
    import datetime as dt
    import time

    version = await publish(stack, doc, comment)
    handler = stack.hotline.ivr.handler
    handler.clock = lambda: dt.datetime.now(dt.UTC)
    stack.use(handler)
    deadline = time.monotonic() + 5
    while stack.hotline.routing.lanes.version != version:
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the router to take the lanes of the published tree")
        await asyncio.sleep(0.1)
    return version
