"""Small helpers shared by the end-to-end tests."""
from __future__ import annotations

import os
from pathlib import Path

from ivr.versions import VersionError


async def publish(stack, doc, comment: str) -> int:
    """Publish a tree document on the test stack; an unchanged tree keeps its current version."""
    versions = stack.services["versions"]
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
