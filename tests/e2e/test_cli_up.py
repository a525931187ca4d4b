"""`hotline up` as a newcomer runs it: READY line, a real call with `hotline call`,
a second instance side by side, and Ctrl-C leaves no process and no port behind."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.helpers import alive

pytestmark = pytest.mark.asterisk

VENV_BIN = Path(sys.executable).parent


def _start(tmp: Path, name: str) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(tmp / name), HOTLINE__STORAGE__DATA_DIR=str(tmp / "data"),
               HOTLINE__FALLBACK__QUEUE_TIMEOUT_S="2")
    proc = subprocess.Popen([str(VENV_BIN / "hotline"), "up", "--demo-seats", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            return proc, json.loads(line[len("READY "):])
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no READY line: {proc.stderr.read()[-3000:]}")


def _listening(port: int, name: str = "") -> bool:
    """TCP: something accepts connections. SIP is UDP: the port cannot be bound."""
    if name == "sip":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return True
            return False
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_call_second_instance_and_clean_stop(tmp_path):
    first, info1 = _start(tmp_path, "a")
    try:
        second, info2 = _start(tmp_path, "b")
    except BaseException:
        first.kill()                          # never left running behind a failed start
        raise
    try:
        ports1, ports2 = set(info1["ports"].values()), set(info2["ports"].values())
        assert not (ports1 & ports2), "two hotlines on one machine must not share a port"
        for name, port in info1["ports"].items():
            assert _listening(port, name), name
        out = subprocess.run([str(VENV_BIN / "hotline"), "call", "--run", info1["run"], "--caller", "13800001234",
                              "--keys", "0,1"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["outcome"] == {"type": "queue", "lane": "general"}
        assert result["path"][:3] == ["start", "welcome", "menu"]
        assert result["tree_version"] == 1
        assert result["seat"] in ("1001", "1002")                  # a demo seat answered
        assert result["vars"] == {"rating": "1"}                    # and the caller rated the call
        _first_admin_logs_in(tmp_path / "b", info2)
    finally:
        for proc in (first, second):
            proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=40) for proc in (first, second)]
    assert codes == [0, 0]
    time.sleep(0.5)
    for info in (info1, info2):
        for name, pid in info["pids"].items():
            assert not alive(pid), f"{name} (pid {pid}) still running"
        for name, port in info["ports"].items():
            assert not _listening(port, name), f"{name} port {port} still listening"


def _first_admin_logs_in(run_root: Path, info: dict) -> None:
    """The README's way to the web pages: `hotline users create-admin` with no flags finds the running
    hotline (run/current under the run root, as in `hotline up`'s own settings), and that account logs in
    to that hotline's web app; `hotline users list` and `hotline seats list` find it the same way."""
    env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(run_root))
    hotline = str(VENV_BIN / "hotline")
    made = subprocess.run([hotline, "users", "create-admin", "--username", "chief", "--display-name", "值班长"],
                          input="chief-pass-12345\n", capture_output=True, text=True, env=env, timeout=30)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["role"] == "admin"
    op = subprocess.run([hotline, "users", "create", "--username", "wang", "--role", "operator", "--operator-id",
                         "8003"], input="wang-pass-12345\n", capture_output=True, text=True, env=env, timeout=30)
    assert op.returncode == 0, op.stderr
    listed = subprocess.run([hotline, "users", "list", "--json"], capture_output=True, text=True, env=env, timeout=30)
    assert {u["username"]: (u["role"], u["operator_id"]) for u in json.loads(listed.stdout)} == {
        "chief": ("admin", None), "wang": ("operator", "8003")}, listed.stderr
    seats = subprocess.run([hotline, "seats", "list"], capture_output=True, text=True, env=env, timeout=30)
    assert seats.returncode == 0, seats.stderr
    assert {s["seat"] for s in json.loads(seats.stdout)} >= {"1001", "1002"}
    req = urllib.request.Request(info["web"] + "api/login", method="POST",
                                 data=json.dumps({"username": "chief", "password": "chief-pass-12345"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["user"]["role"] == "admin"
