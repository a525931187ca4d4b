"""`hotline up` on Redis Sentinel: the settings' redis.sentinels (from the environment, as a
site would pass its password), a real call routed to a demo seat after the master was SIGKILLed
under the running controller, on the promoted replica. The READY line names the Sentinel location
without its passwords; RUN/ready.json (0600) has the full one, which the CLI commands use."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.redis_sentinel import SentinelGroup
from kernel.redis import parse_sentinel_url

pytestmark = pytest.mark.asterisk

VENV_BIN = Path(sys.executable).parent
HOTLINE = str(VENV_BIN / "hotline")


def _call(run: str) -> dict:
    out = subprocess.run([HOTLINE, "call", "--run", run, "--caller", "13800001234", "--keys", "0,1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _seats(run: str) -> list[dict]:
    out = subprocess.run([HOTLINE, "seats", "--run", run, "list"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_up_on_sentinel_routes_calls_before_and_after_a_failover(tmp_path):
    group = SentinelGroup(tmp_path / "redis")
    group.start()
    env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(tmp_path / "run"),
               HOTLINE__STORAGE__DATA_DIR=str(tmp_path / "data"), HOTLINE__FALLBACK__QUEUE_TIMEOUT_S="2",
               HOTLINE__REDIS__SENTINELS=json.dumps([f"127.0.0.1:{p}" for p in group.sentinel_ports]),
               HOTLINE__REDIS__MASTER=group.master, HOTLINE__REDIS__PASSWORD=group.password,
               HOTLINE__REDIS__SENTINEL_PASSWORD=group.password)
    t0 = time.monotonic()
    proc = subprocess.Popen([HOTLINE, "up", "--demo-seats", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        info = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                info = json.loads(line[len("READY "):])
                break
            if not line and proc.poll() is not None:
                break
        assert info is not None, f"no READY line: {proc.stderr.read()[-3000:]}"
        assert info["redis"].startswith("redis+sentinel://:***@127.0.0.1:")
        assert group.password not in json.dumps(info)
        ready = Path(info["run"]) / "ready.json"
        assert ready.stat().st_mode & 0o777 == 0o600
        target = parse_sentinel_url(json.loads(ready.read_text())["redis"])
        assert target is not None and target.password == group.password and target.master == group.master

        t_up = time.monotonic()
        assert {s["seat"] for s in _seats(info["run"])} >= {"1001", "1002"}    # the CLI on ready.json's URL

        first = group.master_address()
        group.kill_master()
        group.wait_failover(first, 20.0)
        t_failover = time.monotonic()
        # one real call, answered: a controller started on the old master routes on the new one
        # (one call only: the IVR plays in real time, some 30 s)
        after = _call(info["run"])
        assert after["outcome"] == {"type": "queue", "lane": "general"}
        assert after["seat"] in ("1001", "1002")                   # a demo seat answered
        print(f"up {t_up - t0:.1f} s, failover {t_failover - t_up:.1f} s, "
              f"call after it {time.monotonic() - t_failover:.1f} s")
        assert {s["seat"] for s in _seats(info["run"])} >= {"1001", "1002"}
        assert proc.poll() is None, "the controller died with the master"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            t_stop = time.monotonic()
            code = proc.wait(timeout=40)
            print(f"stopped in {time.monotonic() - t_stop:.1f} s")
        finally:
            group.stop()
    assert code == 0
