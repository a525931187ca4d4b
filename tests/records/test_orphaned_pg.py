"""A private PostgreSQL whose owner died by SIGKILL is stopped by the next owner (devstack/orphans.py),
with real processes: an owner process starts a real server in a scratch folder and is killed; the next
scratch folder's creation stops that server and removes its folder. A live owner's server, and a pid
that is not that server's any more, are left alone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack import orphans
from devstack.orphans import OWNER_FILE, mark_owner, owner_alive, reap, scratch_folder

OWNER = """
import sys, time
from devstack.orphans import scratch_folder
from devstack.pg_server import PostgresServer
folder = scratch_folder("hotline-pg-orphan-")
server = PostgresServer(folder / "postgres", folder / "log")
server.start()
print(folder, server.process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]


def _until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_owners_postgres_is_stopped_and_its_folder_removed_by_the_next_owner():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    line = owner.stdout.readline().split()
    assert line, "the owner did not start its server"
    folder, pg_pid = Path(line[0]), int(line[1])
    mine = None
    try:
        assert _alive(pg_pid)
        # while its owner lives, another owner's start leaves it alone
        mine = scratch_folder("hotline-pg-other-")
        assert _alive(pg_pid) and folder.exists()
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait(10)
        assert _alive(pg_pid), "PostgreSQL runs in a session of its own: the owner's death leaves it running"
        reaped = reap(Path(tempfile.gettempdir()), "hotline-pg-", keep=mine)
        assert folder in reaped
        assert _until(lambda: not _alive(pg_pid), 10), "the orphaned PostgreSQL still runs"
        assert not folder.exists()
        assert mine.exists() and owner_alive(mine)
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
        if _alive(pg_pid):
            os.kill(pg_pid, signal.SIGKILL)
        for f in (folder, mine):
            if f is not None:
                subprocess.run(["rm", "-rf", str(f)], check=False)


def test_a_reused_pid_is_not_taken_for_the_owner_or_the_server(tmp_path):
    folder = tmp_path / "hotline-pg-x"
    folder.mkdir()
    assert owner_alive(folder), "an unmarked folder is never reaped"
    mark_owner(folder)
    assert owner_alive(folder)
    record = json.loads((folder / OWNER_FILE).read_text())
    (folder / OWNER_FILE).write_text(json.dumps({"pid": record["pid"], "start": record["start"] + 1}))
    assert not owner_alive(folder), "same pid, another start time: another process"
    # a postmaster.pid naming a live process that is not that server (this test's own pid)
    cluster = folder / "postgres" / "cluster"
    cluster.mkdir(parents=True)
    (cluster / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster}\n")
    assert orphans._postmasters(folder) == []
    assert reap(tmp_path, "hotline-pg-") == [folder]
    assert not folder.exists()
