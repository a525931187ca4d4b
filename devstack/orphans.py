"""Scratch servers whose owner died: found and stopped by the next owner.

A private PostgreSQL in a scratch folder (a test's, or a `hotline up` whose run folder the postgres
OS user cannot reach) runs in a session of its own, so a process that dies by SIGKILL leaves it
running, and nothing would ever stop it. The owner writes its identity into the folder
(`mark_owner`); the next start of such a folder on this machine stops the servers of every owner
that is gone (`reap`) and removes their folders. An owner is its pid and the kernel's start time of
that pid, so a reused pid is not taken for the owner.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

log = logging.getLogger("devstack.orphans")
OWNER_FILE = "owner.json"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22); None: no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count fields after the last ")"
    try:
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def mark_owner(folder: Path) -> None:
    """Record this process as the owner of `folder` (0600)."""
    pid = os.getpid()
    path = folder / OWNER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": pid, "start": start_time(pid)}, f)


def owner_alive(folder: Path) -> bool:
    """False only when the folder has an owner record and that owner is gone (unreadable: alive)."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
        pid, start = int(owner["pid"]), owner.get("start")
    except FileNotFoundError:
        return True                      # not marked (an older layout, or still being set up)
    except (OSError, ValueError, KeyError, TypeError):
        return True
    now = start_time(pid)
    return now is not None and (start is None or now == start)


def _postmasters(folder: Path) -> list[int]:
    """The pids in every postmaster.pid under `folder` (first line of each) that are still that server:
    a postgres whose command line names its data folder (a pid reused by another process is left alone)."""
    pids = []
    for pidfile in folder.glob("**/postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"postgres") and str(pidfile.parent).encode() in argv:
                pids.append(pid)
    return pids


def _stop(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT)       # PostgreSQL's fast shutdown
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def reap(base: Path, prefix: str, *, keep: Path | None = None, timeout: float = 5.0) -> list[Path]:
    """Stop the servers in `base/prefix*` folders whose owner is gone, and remove those folders.
    Returns the folders reaped. `keep` (this owner's own folder) is never touched."""
    reaped: list[Path] = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    except OSError:
        return reaped
    for folder in candidates:
        if keep is not None and folder.resolve() == keep.resolve():
            continue
        if owner_alive(folder):
            continue
        for pid in _postmasters(folder):
            _stop(pid, timeout)
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("stopped the private PostgreSQL left by a process that died: %s", folder)
        reaped.append(folder)
    return reaped


def scratch_folder(prefix: str = "hotline-pg-") -> Path:
    """A new scratch folder in the system's temporary folder (0711: the postgres OS user passes
    through it), owned by this process; the folders of owners that died are reaped first."""
    import tempfile

    base = Path(tempfile.gettempdir())
    reap(base, "hotline-pg-")
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o711)
    mark_owner(folder)
    return folder
