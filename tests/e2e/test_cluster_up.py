"""`hotline up --nodes 2` (real processes): Kamailio on 127.0.0.10 with both nodes active and probed in its
dispatcher, each node's Asterisk on its own loopback address ringing the seats through Kamailio, one web
app; SIGTERM stops all of it. (Calls through it with a seat at Kamailio: not yet here, see docs/deploy.md.)"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from devstack.kamailio_server import KAMAILIO, KAMCMD

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(240)]

if KAMAILIO is None or KAMCMD is None:
    pytest.skip("kamailio is needed (scripts/setup)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def short_tmp():
    """A short folder: Kamailio's and Asterisk's control sockets must fit a unix socket path (108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="clu-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_hotline_up_two_nodes_behind_kamailio(short_tmp):
    tmp_path = short_tmp
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"hotline: {{run_root: {tmp_path}/run}}\nstorage: {{data_dir: {tmp_path}/data}}\n"
                   "trunks: {carrier: {inbound_from: [127.0.0.2/32]}}\n", encoding="utf-8")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("hotline")), "up", "--config", str(cfg), "--nodes", "2"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("w"), text=True,
                            start_new_session=True)
    info = None
    try:
        deadline = time.monotonic() + 150
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                info = json.loads(line[6:])
                break
        assert info is not None, f"no READY line (rc {proc.poll()}): " + \
            (tmp_path / "stderr.log").read_text(errors="replace")[-3000:]
        assert info["edge"]["sip"].startswith("127.0.0.10:")
        nodes = info["nodes"]
        assert [n["node"] for n in nodes] == ["node1", "node2"]
        assert [n["sip"].split(":")[0] for n in nodes] == ["127.0.0.11", "127.0.0.12"]
        assert info["web"] and nodes[1]["ports"]["web"] == 0          # one web app
        ctl = info["edge"]["ctl"]
        t0 = time.monotonic()
        while True:
            out = subprocess.run([KAMCMD, "-s", f"unix:{ctl}", "dispatcher.list"], capture_output=True, text=True,
                                 timeout=10).stdout
            flags = dict(zip(re.findall(r"URI:\s*(\S+)", out),
                             re.findall(r"FLAGS:\s*(\S+)", out)))
            if len(flags) == 2 and set(flags.values()) == {"AP"}:
                break
            assert time.monotonic() - t0 < 30, f"both nodes active and probed: {flags}"
            time.sleep(0.2)
        assert set(flags) == {f"sip:{n['sip']}" for n in nodes}
        for n in nodes:
            seats = Path(n["run"], "etc", "asterisk", "pjsip_seats.conf").read_text()
            assert f"@{info['edge']['sip']}" in seats and "type = auth" not in seats
            trunks = Path(n["run"], "etc", "asterisk", "pjsip_trunks.conf").read_text()
            assert "match = 127.0.0.10/32" in trunks
        pids = [info["edge"]["pid"]] + [p for n in nodes for p in n["pids"].values() if p and p != proc.pid]
        assert all(_alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(90)
    assert rc == 0
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "processes left after SIGTERM"
