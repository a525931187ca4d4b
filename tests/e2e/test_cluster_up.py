"""`hotline up --nodes 2` (issue 16), real processes on loopback.

- As a process (with --sentinel): Kamailio on 127.0.0.10 with both nodes active and probed in its dispatcher,
  each node's Asterisk on its own loopback address ringing the seats through Kamailio, one web app, Redis
  Sentinel under them; SIGTERM stops all of it.
- The same composition in-process (hotline/cluster_up.py Cluster): SIPp carrier calls with RTP through
  Kamailio land on both nodes and one seat phone (SIPp) registered at Kamailio answers them all, never two
  at once (both Asterisks' channels watched); its 离线 comes from Kamailio's location.
"""
from __future__ import annotations

import asyncio
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


def test_hotline_up_two_nodes_on_sentinel_behind_kamailio(short_tmp):
    tmp_path = short_tmp
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"hotline: {{run_root: {tmp_path}/run}}\nstorage: {{data_dir: {tmp_path}/data}}\n"
                   "trunks: {carrier: {inbound_from: [127.0.0.2/32]}}\n", encoding="utf-8")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("hotline")), "up", "--config", str(cfg), "--nodes", "2",
                             "--sentinel"],
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
        assert info["redis"].startswith("redis+sentinel://") and len(info["sentinel"]["pids"]) == 5
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
        pids = [info["edge"]["pid"], *info["sentinel"]["pids"]] + [p for n in nodes for p in n["pids"].values()
                                                                   if p and p != proc.pid]
        assert all(_alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(90)
    assert rc == 0
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "processes left after SIGTERM"


# ---------------------------------------------------------------- calls through the cluster (in-process)

SEAT, OPERATOR, SEAT_IP, CARRIER_IP = "1001", "8001", "127.0.0.3", "127.0.0.2"
CALLS = 4


def _seats_yaml() -> str:
    """config/seats.yaml with one seat (so any two calls would meet at it), not reserved, and no wrap-up."""
    text = (REPO / "config" / "seats.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^seats:\n(?:  - .*\n)+", f'seats:\n  - {{id: "{SEAT}", name: 综合受理席}}\n', text, flags=re.M)
    text = re.sub(r"^reserved:\n(?:  .*\n)+", "", text, flags=re.M)
    return re.sub(r"^wrap_up_s: \d+", "wrap_up_s: 0", text, flags=re.M)


TREE = {"version": 1, "name": "e2e-cluster", "entry": "q",
        "lanes": {"general": {"label": "综合受理", "priority": 1}},
        "nodes": {"q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
                  "bye": {"type": "hangup", "prompt": {"text": "再见。"}}}}


async def _until(cond, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await cond()
        if got:
            return got
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def test_callers_on_both_nodes_answered_by_one_seat_registered_at_kamailio(short_tmp):
    from agents.model import SeatState
    from agents.secrets import seat_credentials
    from hotline.cluster_up import Cluster
    from hotline.features.base import data_dir
    from hotline.settings import load
    from tests import sip
    from tests.e2e.helpers import publish
    from tests.e2e.test_kamailio_edge import register_uac, routed

    if sip.SIPP is None:
        pytest.skip("sipp is needed")
    seats_file = short_tmp / "seats.yaml"
    seats_file.write_text(_seats_yaml(), encoding="utf-8")
    cfg = short_tmp / "site.yaml"
    cfg.write_text(f"hotline: {{run_root: {short_tmp}/run}}\nstorage: {{data_dir: {short_tmp}/data}}\n"
                   f"agents: {{seats: {seats_file}}}\ntrunks: {{carrier: {{inbound_from: [{CARRIER_IP}/32]}}}}\n"
                   "database: {url: none}\n", encoding="utf-8")
    settings = load(cfg, env={})
    run = short_tmp / "run" / "c"
    run.mkdir(parents=True)
    cluster = Cluster(settings, run, 2)
    sipp_dir = short_tmp / "sipp"
    phone = carriers = None
    t0 = time.monotonic()
    try:
        await cluster.start()
        node1, node2 = cluster.nodes
        kam = cluster.kamailio
        await _until(lambda: asyncio.to_thread(lambda: set(kam.states().values()) == {"AP"} and len(kam.states()) == 2),
                     30, "both nodes active in Kamailio's dispatcher")
        version = await publish(node1, TREE, "e2e cluster")
        for rt in cluster.nodes:
            async def follows(rt=rt) -> bool:
                return rt.hotline.routing.lanes.version == version
            await _until(follows, 15, f"{rt.node}'s router on the published lanes")
        seats = node1.hotline.routing.seats
        await seats.login(SEAT, OPERATOR)
        # not registered at Kamailio: the seat goes 离线 (paused) from the edge's location
        offline = await _until(lambda: _paused_offline(seats), 15, "seat 1001 paused 离线 (not registered)")
        assert offline

        user, secret = seat_credentials(node1.hotline.routing.config, data_dir(settings))[SEAT]
        phone = sip.Sipp(sipp_dir, sip.seat_uas(pcap=None, talk_ms=1500), ip=SEAT_IP, name="seat-phone",
                         calls=CALLS, timeout_s=80)
        host, port = kam.address
        reg = sip.Sipp(sipp_dir, register_uac(user=user, password=secret, contact=(SEAT_IP, phone.port)),
                       ip=SEAT_IP, name="register", remote=f"{host}:{port}", timeout_s=20)
        reg.start()
        assert await asyncio.to_thread(reg.wait, 30) == 0, reg.log_tail()
        phone.start()

        async def ready():
            return (await seats.status(SEAT)).state == SeatState.READY
        await _until(ready, 15, "seat 1001 ready again once registered at Kamailio")

        # both Asterisks watched: never two channels to the seat at once, on one node or across both
        most = {"n": 0}
        watching = True

        def watch() -> None:
            while watching:
                n = sum((rt.asterisk.cli("core show channels concise") or "").count(f"PJSIP/{SEAT}-")
                        for rt in cluster.nodes)
                most["n"] = max(most["n"], n)
                time.sleep(0.1)
        watcher = asyncio.ensure_future(asyncio.to_thread(watch))
        rtp = sip.RtpStream().silence(30)
        carriers = sip.Sipp(sipp_dir, routed(sip.carrier_uac(pcap=rtp.pcap(short_tmp / "c.pcap"), talk_ms=30000)),
                            ip=CARRIER_IP, name="carrier", remote=f"{host}:{port}", calls=CALLS, rate=2,
                            timeout_s=90)
        carriers.start()
        rc = await asyncio.to_thread(carriers.wait, 100)
        watching = False
        await watcher
        stat = sip.stat_last(carriers.stat_file)
        assert rc == 0 and stat["SuccessfulCall(C)"] == str(CALLS), f"{stat}\n{carriers.log_tail()}"
        log = kam.log.read_text(errors="replace")
        assert len(phone.received("INVITE")) == CALLS, "the seat did not answer every caller: " + log[-3000:] + \
            "".join(Path(rt.run, "log", "messages").read_text(errors="replace")[-2000:] for rt in cluster.nodes
                    if Path(rt.run, "log", "messages").exists())
        rang = {rt.node: log.count(f"edge: node {rt.settings.network.sip_bind} rings seat {user}")
                for rt in cluster.nodes}
        assert all(rang.values()) and sum(rang.values()) == CALLS, rang
        assert 1 <= most["n"] <= 1, f"the seat had {most['n']} calls at once"
        print(f"cluster: {CALLS} calls, seat rung from {rang}, most at once {most['n']}, "
              f"{time.monotonic() - t0:.1f} s")
    finally:
        for p in (carriers, phone):
            if p is not None:
                p.stop()
        await cluster.stop()


async def _paused_offline(seats) -> bool:
    from agents.model import OFFLINE, SeatState

    st = await seats.status(SEAT)
    return st.state == SeatState.PAUSED and st.reason == OFFLINE
