"""`hotline bench web`: live event fan-out latency, AMI event in -> WebSocket
message out, with `clients` pages connected, against baselines in the same run.

Three processes, so each side's CPU and latency are its own:

- the controller: the product's Runtime (`hotline.app` wiring: a private
  Redis and Asterisk, AMI, the Router, the web app with its live hub);
- the browsers: `clients` WebSocket pages logged in as a supervisor (who
  receives every event: the widest fan-out);
- this driver: logs `clients` operators in to as many seats, queues a call
  per seat and lets the routing engine assign them (the seats ring), then
  sends one AMI ``UserEvent: HotlineAnswered`` per call at `rate` per second
  through Asterisk, as the dialplan's on-answer gosub does on a real call.

The controller handles each one as in production (AMI event -> Router.answered
-> the Lua step writes ``call_answered`` to the Redis stream -> the live hub
reads it -> every page's socket). Timed from the UserEvent action's send to:

- ``baseline_ami_raw``: the same event at a second, raw AMI subscriber
  (Asterisk's own hop; nothing of ours);
- ``baseline_redis_stream_raw``: the resulting ``call_answered`` read off the
  Redis stream by a raw XREAD subscriber (AMI + our controller + Redis, no web);
- ``websocket``: the message at each of the pages (everything);
- ``ws_hop``: per page and event, websocket minus the raw stream reader's time
  (the live hub and the sockets alone).
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.harness import pct, proc_cpu, ratio

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-web-pass-1234"
NODE = "bench-web"                      # the calls' controller node: nobody delivers them
TREE = {
    "version": 1, "name": "bench-web", "entry": "q",
    "lanes": {"general": {"label": "综合受理", "priority": 1}},
    "nodes": {"q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye", "on_fail": "bye"},
              "bye": {"type": "hangup"}},
}


def _files(folder: Path, seats: int) -> tuple[Path, Path]:
    data = yaml.safe_load((REPO / "config" / "seats.yaml").read_text(encoding="utf-8"))
    data.update(seats=[{"id": str(2000 + i), "name": f"压测席{i:03d}"} for i in range(seats)],
                operators=[{"id": str(9000 + i), "name": f"工号{9000 + i}", "skills": {"general": 5}}
                           for i in range(seats)],
                wrap_up_s=0, reserved={}, repeat_caller=None,
                callback={"offer_after_s": None, "max_attempts": 1, "retry_after_s": 60})
    seats_file, tree_file = folder / "seats.yaml", folder / "tree.yaml"
    seats_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tree_file.write_text(yaml.safe_dump(TREE, allow_unicode=True), encoding="utf-8")
    return seats_file, tree_file


# ------------------------------------------------------------------ the controller process

def _controller(conn, folder: str, seats_file: str, tree_file: str) -> None:
    asyncio.run(_controller_main(conn, Path(folder), seats_file, tree_file))


async def _controller_main(conn, folder: Path, seats_file: str, tree_file: str) -> None:
    from agents.config import load_seats
    from hotline.app import compose
    from hotline.settings import load
    from kernel import logs
    from web.accounts import Accounts, Role
    from web.auth import PasswordHasher
    from web.keys import ACCOUNTS, CONFIG, SESSIONS

    logs.setup("WARNING")
    settings = load(env={}, overrides={
        "redis": {"url": ""}, "storage": {"data_dir": str(folder / "data")}, "stt": {"model": ""},
        "network": {"fastagi_port": 0, "ami_port": 0, "sip_port": 0, "web_port": 0, "redis_port": 0},
        "agents": {"seats": seats_file}, "ivr": {"tree": tree_file}, "log": {"level": "WARNING"}})
    (folder / "run").mkdir(exist_ok=True)
    rt = compose(settings, folder / "run", persistent_redis=False)
    try:
        await rt.start()
        assert rt.web_runner is not None and rt.redis is not None          # set by start()
        app = rt.web_runner.app
        await app[ACCOUNTS].create("bench", PASSWORD, Role.SUPERVISOR, "压测")
        # The pages' accounts: one supervisor and one operator per seat. Their sessions are made
        # here directly (a login per page would spend minutes in the password KDF).
        cheap = Accounts(rt.redis, PasswordHasher(n=2 ** 4, r=8, p=1), time.time)
        cookie = app[CONFIG].cookie
        sup = await cheap.create("bench-sup", PASSWORD, Role.SUPERVISOR, "压测班长")
        cookies: dict[str, list[str]] = {"supervisor": [], "operator": []}
        seats_cfg = load_seats(seats_file, lanes=["general"])
        for op in sorted(seats_cfg.operators):
            user = await cheap.create(f"bench-{op}", PASSWORD, Role.OPERATOR, f"压测{op}", operator_id=op)
            cookies["operator"].append(f"{cookie}={(await app[SESSIONS].create(user.id, '127.0.0.1')).token}")
            cookies["supervisor"].append(f"{cookie}={(await app[SESSIONS].create(sup.id, '127.0.0.1')).token}")
        assert rt.redis_server is not None and rt.asterisk is not None and rt.asterisk.process is not None
        conn.send({"web": f"http://{settings.network.host}:{rt.web_port}", "redis": rt.redis_server.url,
                   "cookies": cookies,
                   "ami": [rt.asterisk.ports.ami, rt.asterisk.ami_user, rt.asterisk.ami_secret],
                   "asterisk_pid": rt.asterisk.process.pid})
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "mark":
                conn.send({"cpu": time.process_time()})
            elif msg == "stop":
                break
    except BaseException as exc:                 # tell the driver instead of leaving it waiting
        conn.send({"error": repr(exc)})
        raise
    finally:
        await rt.stop()
        conn.send("stopped")


# ------------------------------------------------------------------ the browsers process

def _browsers(conn, url: str, cookies: list[str]) -> None:
    asyncio.run(_browsers_main(conn, url, cookies))


async def _browsers_main(conn, url: str, cookies: list[str]) -> None:
    import aiohttp

    received: dict[str, list[float]] = {}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def read(ws) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT or '"call_answered"' not in msg.data:
                continue
            now = time.time()
            data = json.loads(msg.data)             # one event, or a batch of them (web/live.py)
            for ev in data if isinstance(data, list) else [data]:
                if ev.get("type") == "call_answered":
                    received.setdefault(ev["call_id"], []).append(now)

    pages, readers = [], []
    try:
        for cookie in cookies:
            ws = await session.ws_connect(url + "/ws", headers={"Cookie": cookie}, heartbeat=None)
            pages.append(ws)
            readers.append(asyncio.create_task(read(ws)))
        conn.send({"connected": len(pages), "cpu": time.process_time()})
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) != "report":
            pass
        conn.send({"received": received, "cpu": time.process_time()})
    finally:
        for t in readers:
            t.cancel()
        await asyncio.gather(*(ws.close() for ws in pages), return_exceptions=True)
        await session.close()


class _Child:
    def __init__(self, target, *args) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.proc.start()

    async def recv(self, timeout: float) -> Any:
        if not await asyncio.to_thread(self.conn.poll, timeout):
            raise TimeoutError("benchmark child did not answer")
        try:
            msg = await asyncio.to_thread(self.conn.recv)
        except EOFError:
            raise RuntimeError(f"benchmark child exited (code {self.proc.exitcode})") from None
        if isinstance(msg, dict) and "error" in msg:
            raise RuntimeError(f"benchmark child failed: {msg['error']}")
        return msg

    async def ask(self, msg: str, timeout: float = 60) -> Any:
        await asyncio.to_thread(self.conn.send, msg)
        return await self.recv(timeout)

    async def stop(self, msg: str | None = "stop") -> None:
        try:
            if msg:
                self.conn.send(msg)
                await self.recv(30)
        except Exception:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _summary(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    return {"p50": round(pct(ms, 50), 2), "p99": round(pct(ms, 99), 2), "max": round(max(ms), 2), "n": len(ms)}


# ------------------------------------------------------------------ the driver

SCENARIOS = {
    "consoles": ("operator", "each page is an operator's console on its own seat: an event goes to "
                             "the console of the call's seat"),
    "supervisors": ("supervisor", "each page is a supervisor's (wallboard): every event goes to every page"),
}


class _Driver:
    """The driver's side: seats, ringing calls, the AMI sender and the two raw subscribers."""

    def __init__(self, info: dict, store, router, ami, reader) -> None:
        self.info, self.store, self.router, self.ami, self.reader = info, store, router, ami, reader
        self.ami_seen: dict[str, float] = {}
        self.stream_seen: dict[str, float] = {}
        self.batch = 0
        self.stopping = False

    def on_ami(self, e) -> None:
        if e.name == "UserEvent" and e.get("UserEvent") == "HotlineAnswered":
            self.ami_seen.setdefault(e.get("CallId", ""), time.time())

    async def follow_stream(self) -> None:
        from agents.events import events_key

        last = "$"
        while not self.stopping:             # a flag, not cancel(): redis-py can lose a cancellation
            got = await self.reader.xread({events_key(self.store.prefix): last}, count=500, block=200)
            now = time.time()
            for _stream, entries in got or []:
                for eid, fields in entries:
                    last = eid
                    if fields.get("type") == "call_answered":
                        self.stream_seen.setdefault(json.loads(fields["json"])["call_id"], now)

    async def ring(self, n: int) -> dict[str, str]:
        """n calls queued and assigned (ringing at a seat each): call id -> seat."""
        from agents.model import CallPhase, WaitingCall

        self.batch += 1
        calls = [f"bw{self.batch}-{i:05d}" for i in range(n)]
        for i, cid in enumerate(calls):
            await self.router.enqueue(WaitingCall(cid, "general", f"1390000{i:04d}", node=NODE))
        ringing: dict[str, str] = {}
        for _ in range(100):
            await self.router.match()
            for cid in calls:
                st = await self.store.call(cid)
                if st is not None and st.phase == CallPhase.RINGING and st.seat_id:
                    ringing[cid] = st.seat_id
            if len(ringing) == n:
                return {cid: ringing[cid] for cid in calls}
            await asyncio.sleep(0.1)
        raise RuntimeError(f"only {len(ringing)} of {n} calls reached a seat")

    async def scenario(self, controller: _Child, cookies: list[str], page_seats: set[str] | None, events: int,
                       rate: float, warmup: int, settle_s: float) -> dict[str, Any]:
        """page_seats: the seats whose console is open (None: every page sees every event)."""
        total = warmup + events
        ringing = await self.ring(total)
        browsers = _Child(_browsers, self.info["web"], cookies)
        try:
            connected = (await browsers.recv(180))["connected"]
            await asyncio.sleep(0.5)
            sent: dict[str, float] = {}
            cpu0 = await controller.ask("mark")
            ast0 = proc_cpu(self.info["asterisk_pid"])
            start = time.monotonic()
            for i, (cid, seat) in enumerate(ringing.items()):
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                sent[cid] = time.time()
                await self.ami.user_event("HotlineAnswered", CallId=cid, Seat=seat)
            send_s = time.monotonic() - start
            deadline = time.monotonic() + settle_s
            while any(c not in self.stream_seen for c in ringing) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)                   # the pages' last messages
            cpu1 = await controller.ask("mark")
            ast1 = proc_cpu(self.info["asterisk_pid"])
            got = (await browsers.ask("report", 120))["received"]
        finally:
            await browsers.stop("report")
        for cid in ringing:                            # the seats are free again for the next scenario
            await self.router.ended(cid, wrap_up_s=0)

        measured = list(ringing)[warmup:]
        ami_ms = [(self.ami_seen[c] - sent[c]) * 1000 for c in measured if c in self.ami_seen]
        redis_ms = [(self.stream_seen[c] - sent[c]) * 1000 for c in measured if c in self.stream_seen]
        ws_ms = [(t - sent[c]) * 1000 for c in measured for t in got.get(c, [])]
        hop_ms = [(t - self.stream_seen[c]) * 1000 for c in measured if c in self.stream_seen
                  for t in got.get(c, [])]
        ws, base_redis, base_ami = _summary(ws_ms), _summary(redis_ms), _summary(ami_ms)
        expected = (connected * len(measured) if page_seats is None
                    else sum(1 for c in measured if ringing[c] in page_seats))
        return {
            "pages": connected, "events": len(measured), "warmup_events": warmup, "rate_per_s": rate,
            "achieved_rate_per_s": round(total / send_s, 1) if send_s else None,
            "pages_per_event": connected if page_seats is None else 1,
            "baseline_ami_raw_ms": base_ami, "baseline_redis_stream_raw_ms": base_redis,
            "websocket_ms": {**ws, "expected": expected, "lost": expected - len(ws_ms)},
            "ws_hop_ms": _summary(hop_ms),
            "ratio_websocket_over_redis_raw": {"p50": ratio(ws["p50"], base_redis["p50"]),
                                               "p99": ratio(ws["p99"], base_redis["p99"])},
            "ratio_websocket_over_ami_raw": {"p50": ratio(ws["p50"], base_ami["p50"]),
                                             "p99": ratio(ws["p99"], base_ami["p99"])},
            "controller_cpu_s": round(cpu1["cpu"] - cpu0["cpu"], 3), "asterisk_cpu_s": round(ast1 - ast0, 3),
            "messages_per_s": round(len(ws_ms) / send_s, 1) if send_s else None,
        }


async def run(clients: int = 200, events: int = 200, rate: float = 50.0, warmup: int = 10,
              scenarios: tuple[str, ...] = ("consoles", "supervisors"), settle_s: float = 60.0) -> dict[str, Any]:
    from agents.config import load_seats
    from agents.service import Router, SeatService
    from agents.store import RoutingStore
    from ivr.model import Lane
    from kernel.redis import redis_client
    from pbx.ami import AMIClient

    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    seats_n = max(clients, warmup + events)
    seats_file, tree_file = _files(folder, seats_n)
    controller = _Child(_controller, str(folder), str(seats_file), str(tree_file))
    redis = reader = ami = follower = driver = None
    try:
        info = await controller.recv(300)
        redis = redis_client(info["redis"])
        cfg = load_seats(seats_file, lanes=["general"])
        store = RoutingStore(redis, cfg)
        await store.load_scripts()
        router = Router(store, [Lane("general", "综合受理", 1)])
        seats = SeatService(store, notify=router.poke)
        for seat_id, op_id in zip(sorted(cfg.seats), sorted(cfg.operators)):
            await seats.login(seat_id, op_id)
        port, user, secret = info["ami"]
        ami = AMIClient("127.0.0.1", port, user, secret)
        await ami.connect()
        reader = redis_client(info["redis"])
        driver = _Driver(info, store, router, ami, reader)
        ami.on_event("*", driver.on_ami)
        follower = asyncio.create_task(driver.follow_stream())
        await asyncio.sleep(0.3)

        out: dict[str, Any] = {
            "benchmark": "web", "clients": clients,
            "path": "AMI UserEvent HotlineAnswered -> controller (Router.answered, Lua) -> Redis stream "
                    "call_answered -> live hub -> WebSocket",
            "measure": "from the AMI UserEvent action's send (ms); baselines: the same event at a raw AMI "
                       "subscriber, and its call_answered at a raw Redis stream reader; ws_hop = page - raw reader",
            "note": "one machine, one clock; controller, pages and driver are separate processes",
        }
        for name in scenarios:
            role, what = SCENARIOS[name]
            # consoles: the operators of the seats the calls ring at; supervisors: any page sees all
            cookies = info["cookies"][role][:clients]
            page_seats = None if role == "supervisor" else set(sorted(cfg.seats)[:clients])
            out[name] = {"pages_are": what,
                         **await driver.scenario(controller, cookies, page_seats, events, rate, warmup, settle_s)}
        return out
    finally:
        if follower is not None:
            assert driver is not None                                        # made before the follower
            driver.stopping = True
            await asyncio.wait([follower], timeout=2)
        if ami is not None:
            await ami.close()
        for client in (reader, redis):
            if client is not None:
                await client.aclose()
        await controller.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":                      # pragma: no cover - `hotline bench web` is the entry
    print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2))
