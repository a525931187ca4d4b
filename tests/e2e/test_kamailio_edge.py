"""Kamailio at the SIP edge in front of two Asterisk nodes (issue 16, first slice), real processes on loopback.

Kamailio (devstack/kamailio_server.py, config from dialplan/kamailio.py) listens on 127.0.0.1; the nodes are
two private Asterisks on 127.0.0.11 and 127.0.0.12 whose only trunk is Kamailio's address and whose dialplan
answers and echoes the caller's RTP. SIPp plays the carrier from 127.0.0.2 (the trunk's inbound_from) with
a real RTP stream; strangers are 127.0.0.7 and 127.0.0.9. Kamailio is also the registrar of a seat phone
(SIPp on 127.0.0.3) that both nodes ring through it. Each node's share is read from its own side
(`core show channels count`: calls processed).
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.asterisk_server import AsteriskPorts, AsteriskServer
from devstack.kamailio_server import KAMAILIO, KamailioServer
from devstack.procs import free_ports
from dialplan.kamailio import load_edge
from dialplan.trunks import parse_trunks, render_trunks
from pbx import contract as V
from tests import sip

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(300)]

if sip.SIPP is None or KAMAILIO is None:
    pytest.skip("sipp (sip-tester) and kamailio are needed (scripts/setup)", allow_module_level=True)

EDGE_IP, CARRIER_IP, STRANGER_IP, FLOOD_IP = "127.0.0.1", "127.0.0.2", "127.0.0.7", "127.0.0.9"
NODE_IPS = {"node1": "127.0.0.11", "node2": "127.0.0.12"}
PROBE_S, INVITE_TIMEOUT_MS = 1, 1000
PIKE_REQUESTS = 10
# One UDP worker: replies are relayed in the order they came. With several, a node's 180 can be relayed
# after its 200 (two workers racing); carriers ignore such a late 1xx, SIPp's carrier aborts the call on it.
WORKERS = 1

SEAT_DID, SEAT_USER, SEAT_SECRET, SEAT_IP = "12399", "seat1", "s3cret-seat-1", "127.0.0.3"
BUSY_DID = "12398"          # node1 refuses it with 503 (congestion); node2 answers it
ANSWER = f"""; the node's whole dialplan in this test: answer, echo the caller's RTP until they hang up;
; {SEAT_DID} rings the seat phone {SEAT_USER} through Kamailio (its registrar)
[{V.ENTRY}]
exten => {SEAT_DID},1,Dial(PJSIP/{SEAT_USER}@edge,15)
 same => n,Hangup()
exten => _X.,1,Answer()
 same => n,Echo()
 same => n,Hangup()
"""


@dataclass
class EdgeStack:
    kamailio: KamailioServer
    nodes: dict[str, AsteriskServer]
    folder: Path

    def processed(self, name: str) -> int:
        out = self.nodes[name].cli("core show channels count") or ""
        m = re.search(r"(\d+) calls? processed", out)
        assert m, f"{name}: no call count in {out!r}"
        return int(m.group(1))

    def counts(self) -> dict[str, int]:
        return {n: self.processed(n) for n in self.nodes}

    def rtp_received(self, name: str) -> list[int]:
        """RTP packets received on each of the node's call channels now (`pjsip show channelstats`)."""
        out = self.nodes[name].cli("pjsip show channelstats") or ""
        # "  edge-00000000   00:00:03 alaw   150   0   0  0.000   150 ...": channel, up time, codec, RX count
        return [int(m.group(1)) for m in re.finditer(r"^\s*(?:\S+\s+)?\S+\s+\d\d:\d\d:\d\d\s+\S+\s+(\d+)\s", out, re.M)]

    def state(self, name: str) -> str:
        return self.kamailio.states().get(self.kamailio.edge.node(name).uri, "")


def _node(run: Path, ip: str, edge_port: int, busy: bool) -> AsteriskServer:
    trunk_problems: list[str] = []
    edge_trunk = parse_trunks({"edge": {"inbound_from": [f"{EDGE_IP}/32"], "outbound": f"sip:{EDGE_IP}:{edge_port}"}},
                              trunk_problems)
    assert not trunk_problems
    sip_port = free_ports(1, ip)[0]
    ports = AsteriskPorts(ami=free_ports(1)[0], sip=sip_port, rtp_start=20000 + (sip_port % 40) * 1000)
    ast = AsteriskServer(run, ports=ports, sip_bind=ip)
    dialplan = ANSWER + (f"exten => {BUSY_DID},1,Hangup(34)\n" if busy else "")
    ast.render({"pjsip_trunks.conf": render_trunks(edge_trunk), "pjsip_seats.conf": "", "pjsip_tls.conf": "",
                "extensions_hotline.conf": dialplan, "queues_hotline.conf": ""})
    return ast


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    base = tmp_path_factory.mktemp("edge")
    edge_port = free_ports(1, EDGE_IP)[0]
    nodes = {name: _node(base / name, ip, edge_port, busy=name == "node1") for name, ip in NODE_IPS.items()}
    problems: list[str] = []
    trunks = parse_trunks({"carrier": {"inbound_from": [f"{CARRIER_IP}/32"]}}, problems)
    assert not problems
    settings = {"listen": EDGE_IP, "port": edge_port, "probe_interval_s": PROBE_S, "registrar": {"realm": "hotline"},
                "invite_timeout_ms": INVITE_TIMEOUT_MS, "children": WORKERS,
                "pike": {"window_s": 2, "requests": PIKE_REQUESTS, "ban_s": 60},
                "nodes": {n: {"address": a.sip_bind, "port": a.ports.sip} for n, a in nodes.items()}}
    kam = KamailioServer(base / "kamailio", load_edge(settings, trunks), trunks,
                         seats={"1001": (SEAT_USER, SEAT_SECRET)})
    started: list[AsteriskServer] = []
    try:
        for a in nodes.values():
            a.start(timeout=60)
            started.append(a)
        kam.start()
        e = EdgeStack(kam, nodes, base)
        wait_for(lambda: all(e.state(n) == "AP" for n in nodes), 15, "both nodes active and probed")
        yield e
    finally:
        kam.stop()
        for a in started:
            a.stop()


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until cond() held (polled every 50 ms); fails with `what` after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def routed(xml: str) -> str:
    """sip.carrier_uac as a carrier behind a proxy does it: the 200's Record-Route kept (rrs) and the ACK
    and BYE sent to the remote target (the Contact, as topology hiding masked it) through that route set."""
    xml = xml.replace('<recv response="200" rtd="true"/>', '<recv response="200" rtd="true" rrs="true"/>')
    out = re.sub(r"^(ACK|BYE) sip:\S+ SIP/2.0$", r"\1 [next_url] SIP/2.0\n[routes]", xml, flags=re.M)
    assert out.count("[next_url]") == 2, "carrier_uac's ACK/BYE changed shape"
    return out


def carrier(e: EdgeStack, name: str, *, calls: int, rate: float, talk_ms: int = 2000, limit: int = 0,
            ip: str = CARRIER_IP, did: str = "12345") -> sip.Sipp:
    rtp = sip.RtpStream().silence(talk_ms / 1000 + 0.5)
    pcap = rtp.pcap(e.folder / f"{name}.pcap")
    host, port = e.kamailio.address
    return sip.Sipp(e.folder / "sipp", routed(sip.carrier_uac(pcap=pcap, talk_ms=talk_ms, did=did)), ip=ip, name=name,
                    remote=f"{host}:{port}", calls=calls, rate=rate, limit=limit, timeout_s=90)


async def run_calls(p: sip.Sipp) -> dict[str, str]:
    p.start()
    try:
        rc = await asyncio.to_thread(p.wait, 120)
    finally:
        p.stop()
    stat = sip.stat_last(p.stat_file)
    assert rc == 0, f"SIPp {p.name} rc {rc}: {stat}\n{p.log_tail()}"
    return stat


def register_uac(*, user: str, password: str, contact: tuple[str, int], expect: str = "200") -> str:
    """A seat phone's REGISTER (digest auth when challenged), its Contact where its phone listens."""
    def register(cseq: int, auth: bool) -> str:
        authorization = f"[authentication username={user} password={password}]\n" if auth else ""
        return f"""REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:{user}@{contact[0]}:{contact[1]}>
Expires: 300
Max-Forwards: 70
{authorization}Content-Length: 0
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
{register(1, False)}
]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
{register(2, True)}
]]></send>
  <recv response="{expect}"/>
</scenario>
"""


async def register(e: EdgeStack, name: str, password: str, contact: tuple[str, int], expect: str) -> sip.Sipp:
    host, port = e.kamailio.address
    p = sip.Sipp(e.folder / "sipp", register_uac(user=SEAT_USER, password=password, contact=contact, expect=expect),
                 ip=SEAT_IP, name=name, remote=f"{host}:{port}", timeout_s=20)
    p.start()
    rc = await asyncio.to_thread(p.wait, 30)
    assert rc == 0, p.log_tail()
    return p


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {n: after[n] - before[n] for n in after}


def test_generated_config_is_accepted_by_kamailio(edge):
    edge.kamailio.check()
    for f in ("kamailio.cfg", "dispatcher.list", "address.list"):
        assert (edge.kamailio.etc / f).stat().st_mode & 0o077 == 0, f"{f} readable by others"


async def test_carrier_calls_are_spread_over_both_nodes_all_answered_topology_hidden(edge):
    n = 30
    before = edge.counts()
    stat = await run_calls(carrier(edge, "spread", calls=n, rate=10, talk_ms=2000))
    assert stat["SuccessfulCall(C)"] == str(n) and stat["FailedCall(C)"] == "0", stat
    got = delta(before, edge.counts())
    assert sum(got.values()) == n, got
    assert min(got.values()) >= n // 3, f"calls not spread over both nodes: {got}"
    print(f"spread: {got}")
    # The carrier sees Kamailio only: no node address in any header it received (the SDP's media
    # address is the node's: media is not anchored in this slice).
    p = sip.Sipp(edge.folder / "sipp", "", name="spread")
    oks = [m for m in p.received("SIP/2.0 200") if "INVITE" in m.split("\n\n")[0]]
    assert len(oks) >= n
    for m in oks:
        headers = m.split("\n\n")[0]
        assert not any(ip in headers for ip in NODE_IPS.values()), headers
        assert re.search(r"^Record-Route:.*127\.0\.0\.1", headers, re.M | re.I), headers


async def test_a_5xx_from_a_node_sends_the_call_to_the_next_node(edge):
    before = edge.counts()
    stat = await run_calls(carrier(edge, "busy", calls=6, rate=10, talk_ms=500, did=BUSY_DID))
    assert stat["SuccessfulCall(C)"] == "6" and stat["FailedCall(C)"] == "0", stat
    got = delta(before, edge.counts())
    # round-robin sent half of them to node1 first: refused there (503), answered by node2
    assert got["node2"] == 6 and got["node1"] >= 1, got
    assert edge.state("node1") == "AP"          # a 5xx is an answer: the node stays in service
    log = edge.kamailio.log.read_text(errors="replace")
    assert log.count(f"goes to the next node sip:{NODE_IPS['node2']}") >= got["node1"]


async def test_a_seat_registered_at_kamailio_answers_callers_from_both_nodes(edge):
    phone = sip.Sipp(edge.folder / "sipp", sip.seat_uas(pcap=None, talk_ms=20000), ip=SEAT_IP, name="seat-phone",
                     calls=4, timeout_s=60)
    wrong = await register(edge, "register-wrong", "not-the-secret", (SEAT_IP, phone.port), expect="401")
    assert len(wrong.received("SIP/2.0 401")) == 2 and not wrong.received("SIP/2.0 200")
    ok = await register(edge, "register", SEAT_SECRET, (SEAT_IP, phone.port), expect="200")
    assert re.search(rf"^Contact:.*{SEAT_IP}:{phone.port}", ok.received("SIP/2.0 200")[0], re.M | re.I)
    before = edge.counts()
    phone.start()
    try:
        host, port = edge.kamailio.address
        rtp = sip.RtpStream().silence(2.5)
        calls = sip.Sipp(edge.folder / "sipp", routed(sip.carrier_uac(pcap=rtp.pcap(edge.folder / "seat.pcap"),
                                                                       did=SEAT_DID, talk_ms=2000)),
                         ip=CARRIER_IP, name="to-seat", remote=f"{host}:{port}", calls=4, rate=4, timeout_s=60)
        stat = await run_calls(calls)
        assert stat["SuccessfulCall(C)"] == "4", stat
        # the phone's own side of each call completed too: ACK and BYE reached it through Kamailio
        assert await asyncio.to_thread(phone.wait, 30) == 0, phone.log_tail()
    finally:
        phone.stop()
    assert len(phone.received("INVITE")) == 4
    got = delta(before, edge.counts())
    assert got["node1"] >= 1 and got["node2"] >= 1 and sum(got.values()) == 4, got
    # both nodes rang the one seat through Kamailio (its registrar: the location lookup)
    log = edge.kamailio.log.read_text(errors="replace")
    for ip in NODE_IPS.values():
        assert f"edge: node {ip} rings seat {SEAT_USER} at sip:{SEAT_USER}@{SEAT_IP}:{phone.port}" in log


async def test_invite_from_an_unknown_address_is_refused(edge):
    before = edge.counts()
    host, port = edge.kamailio.address
    p = sip.Sipp(edge.folder / "sipp", sip.refused_uac(), ip=STRANGER_IP, name="stranger", remote=f"{host}:{port}",
                 timeout_s=20)
    p.start()
    rc = await asyncio.to_thread(p.wait, 30)
    assert rc == 0, p.log_tail()
    assert len(p.received("SIP/2.0 403")) == 1
    assert edge.counts() == before


async def test_a_flood_from_an_unknown_address_is_cut_off_by_pike(edge):
    host, port = edge.kamailio.address
    sent = 150
    p = sip.Sipp(edge.folder / "sipp", sip.refused_uac(), ip=FLOOD_IP, name="flood", remote=f"{host}:{port}",
                 calls=sent, rate=300, timeout_s=6, extra=("-max_retrans", "1"))
    p.start()
    await asyncio.to_thread(p.wait, 30)
    refused = len(p.received("SIP/2.0 403"))
    print(f"flood: {refused} of {sent} INVITEs answered 403, the rest ignored")
    # pike lets PIKE_REQUESTS..3x through per window; the rest is ignored, and the source stays banned
    assert 1 <= refused <= 3 * PIKE_REQUESTS + 5, f"{refused} of {sent} INVITEs answered"
    assert "pike: 127.0.0.9 over the limit" in edge.kamailio.log.read_text(errors="replace")
    # the carrier is not limited meanwhile
    stat = await run_calls(carrier(edge, "after-flood", calls=4, rate=20, talk_ms=500))
    assert stat["SuccessfulCall(C)"] == "4", stat


async def test_a_drained_node_gets_no_new_calls_and_its_running_calls_finish(edge):
    node1 = edge.kamailio.edge.node("node1")
    long_calls = carrier(edge, "long", calls=2, rate=20, talk_ms=6000)
    before = edge.counts()
    long_calls.start()
    try:
        await asyncio.to_thread(wait_for, lambda: sum(delta(before, edge.counts()).values()) == 2, 20,
                                "the two long calls up")
        # the carrier's media reaches each node directly (Kamailio carries the signalling only)
        await asyncio.to_thread(wait_for, lambda: all(any(n > 25 for n in edge.rtp_received(name))
                                                      for name in NODE_IPS), 10, "RTP from the carrier on both nodes")
        edge.kamailio.drain(node1)
        assert edge.state("node1").startswith("D")
        mid = edge.counts()
        stat = await run_calls(carrier(edge, "drained", calls=10, rate=20, talk_ms=500))
        assert stat["SuccessfulCall(C)"] == "10", stat
        assert delta(mid, edge.counts()) == {"node1": 0, "node2": 10}
        rc = await asyncio.to_thread(long_calls.wait, 30)
        assert rc == 0 and sip.stat_last(long_calls.stat_file)["SuccessfulCall(C)"] == "2", long_calls.log_tail()
        assert len(long_calls.received("SIP/2.0 200")) >= 4      # INVITE and BYE answered on both calls
        # the probing does not bring a drained node back by itself
        await asyncio.sleep(PROBE_S * 2.5)
        assert edge.state("node1").startswith("D")
    finally:
        long_calls.stop()
        edge.kamailio.undrain(node1)
    assert edge.state("node1") == "AP"
    before = edge.counts()
    await run_calls(carrier(edge, "undrained", calls=6, rate=20, talk_ms=500))
    assert delta(before, edge.counts())["node1"] >= 2


async def test_a_node_drained_in_the_settings_takes_no_calls_after_a_reload(edge):
    kam = edge.kamailio
    original = kam.edge
    nodes = {n.name: {"address": n.address, "port": n.port, "drained": n.name == "node2"} for n in original.nodes}
    settings = {"listen": original.listen, "port": original.port, "probe_interval_s": PROBE_S,
                "invite_timeout_ms": INVITE_TIMEOUT_MS, "children": WORKERS,
                "pike": {"window_s": 2, "requests": PIKE_REQUESTS, "ban_s": 60}, "nodes": nodes}
    try:
        kam.reload(load_edge(settings, kam.trunks))
        assert edge.state("node2").startswith("D") and edge.state("node1").startswith("A")
        before = edge.counts()
        stat = await run_calls(carrier(edge, "reloaded", calls=6, rate=20, talk_ms=500))
        assert stat["SuccessfulCall(C)"] == "6", stat
        assert delta(before, edge.counts()) == {"node1": 6, "node2": 0}
    finally:
        kam.reload(original)
    await asyncio.to_thread(wait_for, lambda: edge.state("node2") == "AP", PROBE_S * 3 + 5, "node2 back in service")


async def test_a_killed_node_gets_no_new_calls_within_the_probe_interval_and_comes_back(edge):
    dead = edge.nodes["node1"]
    assert dead.process and dead.process.pid
    os.killpg(dead.process.pid, signal.SIGKILL)
    dead.process.proc.wait(10)
    t_kill = time.monotonic()
    # Calls keep coming meanwhile: one that hits the dead node goes to the other after the INVITE timeout.
    stat = await run_calls(carrier(edge, "during-kill", calls=6, rate=10, talk_ms=500))
    assert stat["SuccessfulCall(C)"] == "6" and stat["FailedCall(C)"] == "0", stat
    await asyncio.to_thread(wait_for, lambda: edge.state("node1").startswith("I"), PROBE_S * 2 + 5,
                            "node1 marked inactive")
    seen_dead = time.monotonic() - t_kill
    print(f"killed node marked inactive {seen_dead:.1f} s after the kill")
    assert seen_dead <= PROBE_S * 2 + INVITE_TIMEOUT_MS / 1000 + 5
    before2 = edge.processed("node2")
    t0 = time.monotonic()
    stat = await run_calls(carrier(edge, "after-kill", calls=10, rate=20, talk_ms=500))
    assert stat["SuccessfulCall(C)"] == "10", stat
    assert edge.processed("node2") - before2 == 10
    assert time.monotonic() - t0 < 20
    # back up: probing finds it and it takes calls again
    dead.start(timeout=60)
    back = await asyncio.to_thread(wait_for, lambda: edge.state("node1") == "AP", PROBE_S * 3 + 10,
                                   "node1 active again")
    assert back <= PROBE_S * 3 + 10
    print(f"restarted node active again {back:.1f} s after it booted")
    before = edge.counts()
    stat = await run_calls(carrier(edge, "after-restart", calls=8, rate=20, talk_ms=500))
    assert stat["SuccessfulCall(C)"] == "8", stat
    got = delta(before, edge.counts())
    assert got["node1"] >= 2 and sum(got.values()) == 8, got
