"""Node-aware actions with two real controllers (each `hotline up` with its own Asterisk) on one Redis:

- a real SIP call (SIPp as the carrier) to node A answered at a SIP seat (baresip registered on A): a
  supervisor logged in to node B's web app asks to listen; node A originates the spy to the supervisor's
  phone (another baresip on A's Asterisk: no Kamailio here), seen in A's channels and not in B's; then a
  hang-up asked on B's web ends the seat's leg on A;
- node A killed (controller and Asterisk) with callers waiting: node B puts each of them on the callback
  list (漏接回拨, reason 节点故障) once, and their call records say missed.

In the dead-node test the calls are simulated ones (AMI Originate into A's entry context,
devstack/simcall.py) and nobody answers.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import aiohttp
import pytest
import redis.asyncio as aioredis

from agents.config import load_seats
from agents.secrets import seat_credentials
from agents.service import SeatService
from agents.store import RoutingStore
from bench.routing import _bench_files
from ivr.calls import CallRecords
from tests import sip
from tests.e2e.test_routing_calls import VENV_BIN, _stop_group, new_number, until
from tests.e2e.test_routing_faults import Hotline, shared_redis  # noqa: F401  (fixture)

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(180)]

LANES = ("deputy", "enterprise", "general")


async def _nodes(tmp_path, redis_url: str, demo: int, **env: str) -> tuple[Hotline, Hotline]:
    seats_file, tree_file = _bench_files(tmp_path)
    out = []
    for name in ("a", "b"):
        h = Hotline(tmp_path, name, redis_url, seats_file, tree_file, demo, node=f"node-{name}")
        h.env.update(env)
        out.append(await h.start())
    return out[0], out[1]


def _create_user(h: Hotline, *args: str, password: str) -> None:
    env = dict(os.environ, HOTLINE__HOTLINE__RUN_ROOT=str(h.dir / "run"))
    made = subprocess.run([str(VENV_BIN / "hotline"), "users", "create", *args], input=password + "\n",
                          capture_output=True, text=True, env=env, timeout=30)
    assert made.returncode == 0, made.stderr


async def _login(session: aiohttp.ClientSession, web: str, username: str, password: str) -> dict[str, str]:
    async with session.post(web + "api/login", json={"username": username, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        return {"X-CSRF-Token": (await resp.json())["csrf_token"]}


async def test_supervise_and_hang_up_from_node_b_act_on_node_a(tmp_path, shared_redis):  # noqa: F811
    """SIPp as the carrier calls node A; seat 1001 (baresip, registered on A) answers. The supervisor's web
    request reaches node B; node A rings the supervisor's phone 1002 (baresip on A) and spies."""
    if sip.SIPP is None or sip.BARESIP is None:
        pytest.skip("sipp and baresip are needed (scripts/setup)")
    a, b = await _nodes(tmp_path, shared_redis.url, 0,
                        HOTLINE__TRUNKS__CARRIER=json.dumps({"inbound_from": ["127.0.0.2/32"]}))
    redis = aioredis.from_url(shared_redis.url, decode_responses=True)
    voice = tmp_path / "seat.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(voice), "synth", "60", "sine", "440",
                    "vol", "0.5"], check=True)
    cfg = load_seats(a.env["HOTLINE__AGENTS__SEATS"], lanes=LANES)
    creds = seat_credentials(cfg, a.dir / "data")
    store = RoutingStore(redis, cfg)
    phones = [sip.Baresip(tmp_path / f"phone-{sid}", *creds[sid], a.info["ports"]["sip"], voice)
              for sid in ("1001", "1002")]
    uac = None
    try:
        for p in phones:
            await asyncio.to_thread(p.start)

        async def registered():
            states = [await a.ami.device_state(f"PJSIP/{sid}") for sid in ("1001", "1002")]
            return all(st.value == "NOT_INUSE" for st in states)
        await until(registered, 45, "seats 1001 and 1002 registered on node A", every=0.3)
        await SeatService(store).login("1001", list(cfg.operators)[0])
        _create_user(b, "--username", "banzhang", "--role", "supervisor", "--seat", "1002",
                     password="banzhang-pass-123")
        uac = sip.Sipp(tmp_path / "sipp", sip.carrier_uac(pcap=None, caller=f"+86{new_number()}", talk_ms=60000),
                       ip="127.0.0.2", name="carrier", remote=f"127.0.0.1:{a.info['ports']['sip']}", timeout_s=90)
        await asyncio.to_thread(uac.start)

        async def answered():
            st = await store.seat("1001")
            return st.call_id if st.state.value == "on_call" else None
        call_id = await until(answered, 60, "seat 1001 on the carrier's call")
        assert (await store.call(call_id)).node == "node-a"

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
            csrf = await _login(web, b.info["web"], "banzhang", "banzhang-pass-123")
            async with web.post(b.info["web"] + "api/supervise", json={"seat": "1001", "mode": "listen"},
                                headers=csrf) as resp:
                assert resp.status == 202, await resp.text()
                spy = (await resp.json())["spy"]

            async def spying():
                chans = await a.ami.core_show_channels()
                return [c for c in chans if c.uniqueid == spy and c.application == "ChanSpy"] or None
            chans = await until(spying, 20, "the supervisor's phone answered and spying on node A")
            assert chans[0].channel.startswith("PJSIP/1002-")             # the supervisor's phone, rung by A
            assert not [c for c in await b.ami.core_show_channels() if c.uniqueid == spy]

            async with web.post(b.info["web"] + "api/console/hangup", json={"seat": "1001"},
                                headers=csrf) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["call_id"] == call_id

            async def seat_left():
                return [e for e in a.events if e.name == "Hangup"
                        and e.get("Channel", "").startswith("PJSIP/1001-")] or None
            await until(seat_left, 20, "seat 1001's leg hung up on node A")
            await until(lambda: _phase(store, call_id, "ended"), 30, "the call ended")
    finally:
        if uac is not None:
            await asyncio.to_thread(uac.stop)
        for p in phones:
            await asyncio.to_thread(p.stop)
        for h in (a, b):
            await h.stop()
        await redis.aclose()


async def _phase(store: RoutingStore, call_id: str, phase: str) -> bool:
    st = await store.call(call_id)
    return st is not None and st.phase.value == phase


async def test_a_dead_nodes_waiting_callers_are_on_the_callback_list_once(tmp_path, shared_redis):  # noqa: F811
    a, b = await _nodes(tmp_path, shared_redis.url, 2, HOTLINE__ROUTING__DEAD_AFTER_S="4")
    redis = aioredis.from_url(shared_redis.url, decode_responses=True)
    calls: list[asyncio.Future] = []
    try:
        store = RoutingStore(redis, load_seats(a.env["HOTLINE__AGENTS__SEATS"], lanes=LANES))
        for sid in ("1001", "1002"):                               # nobody answers: the callers wait
            await SeatService(store).pause(sid, "小休")
        calls = [asyncio.ensure_future(a.call(caller=new_number(), hold=150, timeout=170)) for _ in range(3)]

        async def waiting():
            ids = await store.active_calls()
            states = [await store.call(c) for c in ids]
            ours = [s.call_id for s in states if s is not None and s.phase.value == "waiting" and s.node == "node-a"]
            return ours if len(ours) == 3 else None
        ids = await until(waiting, 60, "3 callers waiting on node A")

        os.kill(a.proc.pid, signal.SIGKILL)                        # node A gone: its controller...
        await asyncio.to_thread(_stop_group, (a.info.get("pids") or {}).get("asterisk"))   # ...and Asterisk
        a.ami, a.proc = None, None

        async def on_list():
            missed = {m["call_id"]: m for m in await store.missed()}
            return missed if set(ids) <= set(missed) else None
        missed = await until(on_list, 30, "node A's callers on the callback list", every=0.3)
        assert {missed[c]["reason"] for c in ids} == {"节点故障"}
        for c in ids:
            st = await store.call(c)
            assert (st.phase.value, st.end_reason) == ("ended", "node_failed")
        lost = [json.loads(f["json"]) for _, f in await redis.xrange(store.key("events"))
                if f.get("type") == "call_lost"]
        assert sorted(e["call_id"] for e in lost) == sorted(ids)   # each taken over once
        records = CallRecords(redis)

        async def marked():
            recs = [await records.get(c) for c in ids]
            return recs if all(r and r.get("status") == "missed" for r in recs) else None
        await until(marked, 10, "the call records marked missed")
        assert "node-a" not in await store.node_beats()
    finally:
        for c in calls:
            c.cancel()
        for h in (a, b):
            await h.stop()
        await redis.aclose()
