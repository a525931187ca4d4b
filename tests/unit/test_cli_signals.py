"""A hotline command killed with SIGTERM (or its terminal closed) unwinds like Ctrl-C, so the servers
a benchmark started in their own sessions are stopped by its finally blocks."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import asyncio, os, sys, time
from hotline.cli import stop_on_term
stop_on_term()
async def work():
    try:
        print("ready", flush=True)
        await asyncio.sleep(60)
    finally:
        open(sys.argv[1], "w").write("stopped")
try:
    asyncio.run(work())
except KeyboardInterrupt as exc:
    sys.exit(130)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_command_runs_its_finally_blocks(tmp_path, sig):
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(marker)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    assert proc.wait(30) == 130
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "stopped"
