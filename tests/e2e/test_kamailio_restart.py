"""Kamailio restarted under calls (issue 16), real processes on loopback: the seats' location survives in
Redis, the calls in progress keep their media and end through the restarted Kamailio, new calls are taken.

The stack is test_kamailio_edge.py's (its node builder and helpers imported, not copied): two bare Asterisk
nodes on 127.0.0.11/.12 answering and echoing, Kamailio on 127.0.0.1 as the carriers' edge and the seats'
registrar, SIPp as the carrier (127.0.0.2, with RTP) and as the seat phone (127.0.0.3). Here Kamailio's
``edge.registrar.location`` is a private Redis (db_redis, write-through), and Kamailio is stopped and
started again on the same address and port while two calls talk.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from pathlib import Path

import pytest

from devstack.asterisk_server import AsteriskServer
from devstack.kamailio_server import KAMAILIO, KamailioServer, location_redis
from devstack.procs import RedisServer, free_ports
from dialplan.kamailio import load_edge
from dialplan.trunks import parse_trunks
from tests import sip
from tests.e2e.test_kamailio_edge import (
    CARRIER_IP,
    EDGE_IP,
    NODE_IPS,
    SEAT_DID,
    SEAT_IP,
    SEAT_SECRET,
    SEAT_USER,
    WORKERS,
    EdgeStack,
    _node,
    carrier,
    delta,
    register,
    routed,
    run_calls,
    wait_for,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(300)]

if sip.SIPP is None or KAMAILIO is None:
    pytest.skip("sipp (sip-tester) and kamailio are needed (scripts/setup)", allow_module_level=True)
if not list(Path("/usr/lib").glob("*/kamailio/modules/db_redis.so")):
    pytest.skip("kamailio-redis-modules is needed (scripts/setup)", allow_module_level=True)

PROBE_S = 1
LOCATION_DB = 5
TALK_MS = 20000        # the calls that live through the restart


def edge_settings(port: int, nodes: dict[str, AsteriskServer], location: str) -> dict:
    return {"listen": EDGE_IP, "port": port, "probe_interval_s": PROBE_S, "invite_timeout_ms": 1000,
            "children": WORKERS, "registrar": {"realm": "hotline", "location": location},
            "nodes": {n: {"address": a.sip_bind, "port": a.ports.sip} for n, a in nodes.items()}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("edge-restart")
    edge_port = free_ports(1, EDGE_IP)[0]
    nodes = {name: _node(base / name, ip, edge_port, busy=False) for name, ip in NODE_IPS.items()}
    problems: list[str] = []
    trunks = parse_trunks({"carrier": {"inbound_from": [f"{CARRIER_IP}/32"]}}, problems)
    assert not problems
    redis_server = RedisServer(base / "redis-run")
    location = f"redis://:{redis_server.password}@127.0.0.1:{redis_server.port}/{LOCATION_DB}"
    kam = KamailioServer(base / "kamailio", load_edge(edge_settings(edge_port, nodes, location), trunks), trunks,
                         seats={"1001": (SEAT_USER, SEAT_SECRET)})
    with contextlib.ExitStack() as running:      # each service stopped after, the last started first
        for service, start in [(redis_server, redis_server.start),
                               *[(a, functools.partial(a.start, timeout=60)) for a in nodes.values()],
                               (kam, kam.start)]:
            running.callback(service.stop)
            start()
        e = EdgeStack(kam, nodes, base)
        wait_for(lambda: all(e.state(n) == "AP" for n in nodes), 15, "both nodes active and probed")
        yield e


def active_calls(e: EdgeStack, name: str) -> int:
    out = e.nodes[name].cli("core show channels count") or ""
    m = re.search(r"(\d+) active channels?", out)
    assert m, f"{name}: no active channel count in {out!r}"
    return int(m.group(1))


def rx_grew(before: dict[str, list[int]], now: dict[str, list[int]], packets: int) -> bool:
    """Every call channel of every node received at least `packets` more RTP packets."""
    return all(len(now[n]) == len(before[n]) and all(b - a >= packets for a, b in zip(before[n], now[n]))
               for n in before)


def test_the_generated_config_with_a_redis_location_is_accepted_and_private(stack):
    kam = stack.kamailio
    kam.check()
    cfg = kam.cfg.read_text()
    assert kam.edge.registrar and kam.edge.registrar.location
    assert f'"{kam.edge.registrar.location.db_url}"' in cfg        # the password is in it: 0600
    assert kam.cfg.stat().st_mode & 0o077 == 0
    assert kam.log.stat().st_mode & 0o077 == 0                 # db_redis logs the URL on a connection failure


async def test_a_restart_keeps_the_calls_media_and_bye_and_the_seat_reachable(stack):
    kam = stack.kamailio
    store = kam.edge.registrar.location if kam.edge.registrar else None
    assert store is not None
    phone = sip.Sipp(stack.folder / "sipp", sip.seat_uas(pcap=None, talk_ms=20000), ip=SEAT_IP, name="seat-phone",
                     calls=1, timeout_s=60)
    contact = f"sip:{SEAT_USER}@{SEAT_IP}:{phone.port}"
    await register(stack, "register", SEAT_SECRET, (SEAT_IP, phone.port), expect="200")
    assert kam.contacts() == {SEAT_USER: [contact]}
    with location_redis(store) as db:            # written through to Redis at once
        rows = [db.hgetall(k) for k in db.scan_iter("location:entry::*")]
    assert [(r["username"], r["contact"]) for r in rows] == [(SEAT_USER, contact)], rows

    before = stack.counts()
    talking = carrier(stack, "through-restart", calls=2, rate=20, talk_ms=TALK_MS)
    talking.start()
    try:
        await asyncio.to_thread(wait_for, lambda: sum(delta(before, stack.counts()).values()) == 2, 20,
                                "the two calls up")
        assert delta(before, stack.counts()) == {"node1": 1, "node2": 1}
        await asyncio.to_thread(wait_for, lambda: all(any(n > 25 for n in stack.rtp_received(name))
                                                      for name in NODE_IPS), 10, "RTP from the carrier on both nodes")
        # the topology-hiding key is the one kept in the run folder: any restart of it masks alike
        assert KamailioServer(kam.run, kam.edge, kam.trunks).mask_key == kam.mask_key
        assert (kam.etc / "topoh.key").stat().st_mode & 0o077 == 0
        old_pid = kam.process.pid if kam.process else None
        log_at = kam.log.stat().st_size
        t0 = time.monotonic()
        await asyncio.to_thread(kam.restart)
        restart_s = time.monotonic() - t0
        assert kam.process and kam.process.pid != old_pid and kam.alive()
        # the registration came back from Redis: no phone registered again
        assert kam.contacts() == {SEAT_USER: [contact]}
        await asyncio.to_thread(wait_for, lambda: all(stack.state(n) == "AP" for n in NODE_IPS), PROBE_S * 3 + 10,
                                "both nodes active again")
        assert talking.proc is not None and talking.proc.poll() is None, "the carrier's calls ended early"
        # Media never went through Kamailio: each node keeps receiving the carrier's RTP (50 packets/s).
        rx0 = {n: stack.rtp_received(n) for n in NODE_IPS}
        assert all(len(v) == 1 for v in rx0.values()), rx0
        await asyncio.to_thread(wait_for, lambda: rx_grew(rx0, {n: stack.rtp_received(n) for n in NODE_IPS}, 50),
                                10, "RTP still flowing on both calls after the restart")
        print(f"Kamailio restarted in {restart_s:.1f} s; RTP after it: "
              f"{ {n: stack.rtp_received(n) for n in NODE_IPS} } (before: {rx0})")
        assert talking.proc.poll() is None, "the calls must still be up while RTP is checked"
        # The carrier's BYE goes to the masked Contact through the Record-Route: the restarted Kamailio
        # decodes it (same key) and relays it to the node, which answers 200.
        rc = await asyncio.to_thread(talking.wait, TALK_MS / 1000 + 60)
    finally:
        talking.stop()
    stat = sip.stat_last(talking.stat_file)
    assert rc == 0 and stat["SuccessfulCall(C)"] == "2" and stat["FailedCall(C)"] == "0", talking.log_tail()
    assert len(talking.sent("BYE")) == 2
    assert len([m for m in talking.received("SIP/2.0 200") if re.search(r"^CSeq:\s*\d+ BYE", m, re.M | re.I)]) == 2
    await asyncio.to_thread(wait_for, lambda: all(active_calls(stack, n) == 0 for n in NODE_IPS), 15,
                            "both nodes hung up")

    # New calls are taken and spread after the restart.
    before = stack.counts()
    stat = await run_calls(carrier(stack, "after-restart", calls=4, rate=10, talk_ms=500))
    assert stat["SuccessfulCall(C)"] == "4" and stat["FailedCall(C)"] == "0", stat
    got = delta(before, stack.counts())
    assert got["node1"] >= 1 and got["node2"] >= 1 and sum(got.values()) == 4, got

    # The seat rings at once (its location was loaded from Redis, no new REGISTER, well before expiry).
    phone.start()
    try:
        host, port = kam.address
        rtp = sip.RtpStream().silence(2.5)
        call = sip.Sipp(stack.folder / "sipp", routed(sip.carrier_uac(pcap=rtp.pcap(stack.folder / "seat.pcap"),
                                                                      did=SEAT_DID, talk_ms=2000)),
                        ip=CARRIER_IP, name="to-seat", remote=f"{host}:{port}", calls=1, timeout_s=60)
        stat = await run_calls(call)
        assert stat["SuccessfulCall(C)"] == "1", stat
        assert await asyncio.to_thread(phone.wait, 30) == 0, phone.log_tail()
    finally:
        phone.stop()
    assert len(phone.received("INVITE")) == 1
    assert len(phone.received("ACK")) == 1 and len(phone.received("BYE")) == 1     # through Kamailio
    after = kam.log.read_text(errors="replace")[log_at:]
    assert f"rings seat {SEAT_USER} at {contact}" in after

    # The phone's next REGISTER after the restart replaces the one stored contact (no second row).
    again = await register(stack, "re-register", SEAT_SECRET, (SEAT_IP, phone.port), expect="200")
    call_id = re.search(r"^Call-ID:\s*(\S+)", again.sent("REGISTER")[-1], re.M | re.I)
    assert call_id and kam.contacts() == {SEAT_USER: [contact]}
    with location_redis(store) as db:
        rows = [db.hgetall(k) for k in db.scan_iter("location:entry::*")]
    assert [(r["username"], r["contact"], r["callid"]) for r in rows] == [(SEAT_USER, contact, call_id.group(1))], rows


def test_without_a_store_a_restart_forgets_the_seats(stack, tmp_path):
    """The contrast: the same registrar with its location in memory loses the seat on a restart."""
    kam0 = stack.kamailio
    port = free_ports(1, EDGE_IP)[0]
    kam = KamailioServer(tmp_path / "kam-mem", load_edge(edge_settings(port, stack.nodes, "memory"), kam0.trunks),
                         kam0.trunks, seats={"1001": (SEAT_USER, SEAT_SECRET)})
    try:
        kam.start()
        mem = EdgeStack(kam, stack.nodes, stack.folder)
        phone_port = sip.free_port(SEAT_IP)
        asyncio.run(register(mem, "register-mem", SEAT_SECRET, (SEAT_IP, phone_port), expect="200"))
        assert kam.contacts() == {SEAT_USER: [f"sip:{SEAT_USER}@{SEAT_IP}:{phone_port}"]}
        kam.restart()
        assert kam.contacts() == {}
    finally:
        kam.stop()
