"""`hotline bench sip`: real SIP load on one box.

SIPp is the carrier (a trunk from 127.0.0.20): INVITEs with PCMA/PCMU/telephone-event and real RTP
from a pcap (line noise, RFC 4733 key 2 during the menu, a spoken account, noise). Each call goes
greeting -> menu key 2 -> describe (prompt, beep, record until silence) -> queue -> answered by a SIPp
seat (registered to its PJSIP seat endpoint like a phone) that talks for a while and hangs up -> the
hotline hangs up. The baseline, in the same run on the same Asterisk and seats: the same flow written
as plain dialplan (Playback / Read / Record / Queue of the same seats).

Each side is ramped through concurrency levels until the first level with a failed call (at most
--max). For every level: calls placed, completed and failed on both SIPp sides, the peak of
concurrent carrier channels seen, calls/s, CPU per call of Asterisk, the controller (its own
process) and SIPp, post-dial delay (INVITE -> 200 OK) and key -> next prompt (RFC 4733 key end to
the next prompt starting on that channel, from AMI event timestamps) p50/p99.
"""
from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.harness import pct, proc_cpu, ratio
from devstack import sipp as S

CARRIER_IP = "127.0.0.20"
SEAT_IP = "127.0.0.21"
REG_IP = "127.0.0.21"
DID_OURS, DID_PLAIN = "12345", "88888"
PLAIN = "hotline-bench-sip-plain"
DEFAULT_LEVELS = (10, 25, 50, 100, 150, 200, 300, 400, 500, 600)
GREETING = "您好，株洲12345。"
MENU = "企业诉求请按2。"
DESCRIBE = "请讲。"


def tree_doc() -> dict[str, Any]:
    return {
        "version": 1, "name": "bench-sip", "entry": "welcome",
        "lanes": {"enterprise": {"label": "政企通专席", "priority": 5}, "general": {"label": "综合受理", "priority": 1}},
        "nodes": {
            "welcome": {"type": "play", "prompt": {"text": GREETING}, "next": "menu"},
            "menu": {"type": "menu", "prompt": {"text": MENU}, "options": {"2": "enterprise_q"}, "timeout_s": 5,
                     "retries": 0, "timeout_retries": 0, "on_timeout": "general_q", "on_invalid": "general_q"},
            "enterprise_q": {"type": "queue", "lane": "enterprise", "announce_every_s": 0, "after": "bye",
                             "on_fail": "bye", "describe": {"prompt": {"text": DESCRIBE}, "max_s": 10,
                                                            "silence_s": 2}},
            "general_q": {"type": "queue", "lane": "general", "announce_every_s": 0, "after": "bye",
                          "on_fail": "bye"},
            "bye": {"type": "hangup"},
        },
    }


def seats_doc(n: int) -> dict[str, Any]:
    return {
        "seats": [{"id": f"b{i:04d}", "name": f"压测席{i}"} for i in range(1, n + 1)],
        "operators": [{"id": f"9{i:04d}", "name": f"工号9{i:04d}", "skills": {"enterprise": 5, "general": 5}}
                      for i in range(1, n + 1)],
        "wrap_up_s": 1, "ring_timeout_s": 15, "announce_every_s": 0, "pause_reasons": ["小休"],
    }


def plain_contexts(prompts, rec_dir: str, queue_timeout_s: int = 60) -> tuple:
    """The baseline: the same flow as plain dialplan, entered from the carrier's trunk by DID_PLAIN."""
    from dialplan.model import Context, Extension, steps
    from pbx.contract import ENTRY, FALLBACK_QUEUE

    greeting, menu, describe = (str(prompts.ensure(t)) for t in (GREETING, MENU, DESCRIBE))
    entry = Context(ENTRY, (Extension(DID_PLAIN, steps(("Goto", f"{PLAIN},s,1"),)),),
                    comment="Benchmark baseline entry (merged into the product's entry context).")
    plain = Context(PLAIN, (Extension("s", steps(
        ("Answer", ""),
        ("Playback", greeting),
        ("Read", f"KEY,{menu},1,,1,5"),
        ("GotoIf", '$["${KEY}" = "2"]?ent'),
        ("Queue", f"{FALLBACK_QUEUE},t,,,{queue_timeout_s}"),
        ("Hangup", ""),
        ("Playback", describe, "ent"),
        ("Record", f"{rec_dir}/plain-${{UNIQUEID}}.wav,2,10"),
        ("Queue", f"{FALLBACK_QUEUE},t,,,{queue_timeout_s}"),
        ("Hangup", ""),
    )),), comment="Benchmark baseline: greeting, menu, describe, queue of the same seats, in plain dialplan.")
    return entry, plain


# ---------------------------------------------------------------- the controller in its own process


def _serve(conn, cfg: dict) -> None:
    async def main() -> None:
        from agents.errors import AgentsError
        from agents.model import SeatState
        from agents.secrets import seat_credentials
        from hotline.app import compose, data_dir
        from hotline.settings import load
        from kernel import logs

        logs.setup("WARNING")
        s = load(env={}, overrides=cfg["overrides"])
        # the controller as deployed (hotline/app.py compose: its AMI session asks only for the events
        # it uses); the benchmark watches on its own session
        rt = compose(s, Path(cfg["run"]), persistent_redis=False,
                     extra_contexts=lambda agi_url, prompts: plain_contexts(prompts, cfg["rec_dir"]))
        await rt.start()
        assert rt.hotline is not None and rt.asterisk is not None
        routing = rt.hotline.routing
        creds = seat_credentials(routing.config, data_dir(s))
        conn.send({**rt.ready_info(), "ami_secret": rt.asterisk.ami_secret,
                   "creds": {k: list(v) for k, v in creds.items()}})
        seats = routing.seats
        ops = [o for o in routing.config.operators]
        loop = asyncio.get_running_loop()
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "login":
                for sid, op in zip(sorted(routing.config.seats), ops):
                    with contextlib.suppress(AgentsError):
                        st = await seats.status(sid)
                        if st.state == SeatState.LOGGED_OUT:
                            await seats.login(sid, op)
                        await seats.ready(sid)
                conn.send("ok")
            elif msg == "ready":
                n = sum(1 for st in await seats.seats() if st.state == SeatState.READY)
                conn.send(n)
            elif msg == "stop":
                await rt.stop()
                conn.send("stopped")
                return

    asyncio.run(main())


class Controller:
    def __init__(self, cfg: dict) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, cfg), daemon=True)

    async def start(self) -> dict:
        self.proc.start()
        return await asyncio.wait_for(asyncio.to_thread(self.conn.recv), 180)

    async def ask(self, msg: str, timeout: float = 120) -> Any:
        await asyncio.to_thread(self.conn.send, msg)
        return await asyncio.wait_for(asyncio.to_thread(self.conn.recv), timeout)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.ask("stop", 60)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


# ---------------------------------------------------------------- SIP peers


def caller_line(key_at_s: float, total_s: float = 60.0) -> S.RtpStream:
    """Line noise, key 2 (RFC 4733) during the menu, an account (a voiced tone for 1.5 s), noise."""
    rtp = S.RtpStream().silence(key_at_s).rfc4733("2", 200)
    rtp.silence(2.2)                                            # the describe prompt and the beep
    rtp.audio(S.tone((220, 440, 660), 1.5, 0.3))
    return rtp.silence(max(0.0, total_s - rtp.duration))


def seat_line(talk_s: float) -> S.RtpStream:
    return S.RtpStream(ssrc=0x5EA7).audio(S.tone((300, 500), 0.8, 0.3)).silence(max(1.0, talk_s + 2))


class Peers:
    """The carrier for each level, the seats (one SIPp UAS answering every seat), their registration."""

    def __init__(self, folder: Path, sip_port: int, key_at_s: float, talk_s: float) -> None:
        self.folder = folder
        self.sip_port = sip_port
        self.caller_pcap = caller_line(key_at_s).pcap(folder / "caller.pcap")
        self.seat_pcap = seat_line(talk_s).pcap(folder / "seat.pcap")
        self.talk_s = talk_s
        self.seat_port = S.free_port(SEAT_IP)
        self.seats: S.Sipp | None = None

    async def register(self, creds: dict[str, list[str]]) -> int:
        accounts = [(sid, u, p) for sid, (u, p) in creds.items()]
        return await asyncio.to_thread(S.register_contacts, accounts, local=(REG_IP, self.seat_port),
                                       registrar=("127.0.0.1", self.sip_port))

    def start_seats(self) -> None:
        # Same address and port as the REGISTERs: Asterisk rewrites each seat's contact to where they came from.
        self.seats = S.Sipp(self.folder, S.seat_uas(pcap=self.seat_pcap, talk_ms=int(self.talk_s * 1000)),
                            ip=SEAT_IP, port=self.seat_port, calls=10_000_000, name="seats",
                            extra=("-aa",), timeout_s=24 * 3600)
        self.seats.start()

    def carrier(self, name: str, did: str, calls: int, rate: float, wait_s: float) -> S.Sipp:
        # Every call from its own number, as a carrier's are: with one number for all, each draft ticket's
        # repeat-caller check read that caller's last 100 tickets (a third of the controller's CPU per call).
        scen = S.carrier_uac(pcap=self.caller_pcap, caller="1380[call_number]", did=did,
                             talk_ms=int(wait_s * 1000),
                             bye_required=True)
        return S.Sipp(self.folder, scen, ip=CARRIER_IP, remote=f"127.0.0.1:{self.sip_port}", calls=calls,
                      rate=rate, limit=calls, name=name, extra=("-trace_rtt", "-rtt_freq", "1"),
                      timeout_s=int(wait_s + calls / max(rate, 1) + 60))

    def stop(self) -> None:
        if self.seats:
            self.seats.stop()


def _rtts(folder: Path, name: str) -> list[float]:
    """Post-dial delays (ms) of one SIPp run, from its -trace_rtt file."""
    out: list[float] = []
    for f in folder.glob(f"{name}_*_rtt.csv"):
        for line in f.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3:
                with contextlib.suppress(ValueError):
                    out.append(float(parts[2]))
        f.unlink()
    return out


class KeyToPrompt:
    """AMI events: the RFC 4733 key's end on a carrier channel -> the next prompt starting there."""

    def __init__(self) -> None:
        self.key_at: dict[str, float] = {}
        self.samples: list[float] = []

    def on_event(self, e) -> None:
        ch = e.get("Channel", "")
        if not ch.startswith("PJSIP/bench-"):
            return
        ts = float(e.get("Timestamp") or time.time())
        if e.name == "DTMFEnd" and e.get("Direction") == "Received":
            self.key_at[ch] = ts
        elif ch in self.key_at and (
                (e.name == "AGIExecStart" and e.get("Command", "").upper().startswith("STREAM FILE"))
                or (e.name == "Newexten" and e.get("Application") == "Playback")):
            self.samples.append((ts - self.key_at.pop(ch)) * 1000)

    def take(self) -> list[float]:
        out, self.samples = self.samples, []
        self.key_at.clear()
        return out


def _ms(values: list[float]) -> dict[str, Any]:
    return {"samples": len(values), "p50": round(pct(values, 50), 1) if values else None,
            "p99": round(pct(values, 99), 1) if values else None}


async def _level(peers: Peers, ami, side: str, did: str, calls: int, pids: dict[str, int], k2p: KeyToPrompt,
                 call_s: float) -> dict[str, Any]:
    rate = max(5.0, calls / 8.0)                     # all started within about 8 s: calls overlap fully
    name = f"carrier-{side}-{calls}"
    carrier = peers.carrier(name, did, calls, rate, wait_s=call_s + 45)
    seats = peers.seats
    if seats is None:
        raise RuntimeError("the SIPp seats are not running")
    seats_before = S.stat_last(seats.stat_file) if seats.stat_file.exists() else {}
    k2p.take()
    cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
    t0 = time.perf_counter()
    carrier.start()
    if carrier.proc is None:
        raise RuntimeError("the SIPp carrier did not start")
    carrier_pid = carrier.proc.pid
    sipp_cpu0 = proc_cpu(carrier_pid)
    peak, sipp_cpu = 0, 0.0
    while carrier.alive():
        with contextlib.suppress(Exception):
            peak = max(peak, len(await ami.core_show_channels()))     # channels up now (both legs)
        with contextlib.suppress(Exception):
            sipp_cpu = proc_cpu(carrier_pid) - sipp_cpu0
        await asyncio.sleep(1.0)
    await asyncio.to_thread(carrier.wait, 30)
    wall = time.perf_counter() - t0
    cpu = {k: proc_cpu(p) - cpu0[k] for k, p in pids.items()}
    await asyncio.sleep(2.5)                          # the SIPp seat's statistics file catches up (-fd 1)
    st = S.stat_last(carrier.stat_file)
    seats_after = S.stat_last(seats.stat_file)
    ok = int(st.get("SuccessfulCall(C)", 0) or 0)
    failed = int(st.get("FailedCall(C)", 0) or 0) + max(0, calls - ok - int(st.get("FailedCall(C)", 0) or 0))
    seat_ok = int(seats_after.get("SuccessfulCall(C)", 0) or 0) - int(seats_before.get("SuccessfulCall(C)", 0) or 0)
    seat_failed = int(seats_after.get("FailedCall(C)", 0) or 0) - int(seats_before.get("FailedCall(C)", 0) or 0)
    n = max(ok, 1)
    row = {
        "concurrency": calls, "placed": calls, "completed": ok, "failed": failed,
        "seat_answered": seat_ok, "seat_failed": seat_failed, "peak_active_calls": peak,
        "wall_s": round(wall, 2), "calls_per_s": round(ok / wall, 2) if wall else 0.0,
        "cpu_s_per_call": {"asterisk": round(cpu["asterisk"] / n, 4),
                           "controller": round(cpu.get("controller", 0.0) / n, 4),
                           "sipp": round((sipp_cpu + cpu.get("sipp_seats", 0.0)) / n, 4)},
        "post_dial_delay_ms": _ms(_rtts(peers.folder, name)),
        "key_to_next_prompt_ms": _ms(k2p.take()),
    }
    row["zero_failures"] = failed == 0 and seat_failed == 0 and ok == calls and seat_ok >= calls
    return row


async def run(max_calls: int = 600, levels: list[int] | None = None, talk_s: float = 4.0,
              first_failure: bool = True, log=None, asterisk: int = 16) -> dict[str, Any]:
    from hotline.settings import load
    from pbx.ami import AMIClient
    from recordings.tts import PromptCache, TTSVoice, duration_s

    if S.SIPP is None:
        raise RuntimeError("sipp is not installed (Debian sip-tester)")
    steps = sorted({c for c in (levels or DEFAULT_LEVELS) if 0 < c <= max_calls})
    if not levels and max_calls not in steps and max_calls < DEFAULT_LEVELS[-1]:
        steps.append(max_calls)
    steps = sorted(set(steps)) or [max_calls]
    top = max(steps)
    folder = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    (folder / "sipp").mkdir()
    (folder / "rec").mkdir()
    (folder / "tree.yaml").write_text(yaml.safe_dump(tree_doc(), allow_unicode=True), encoding="utf-8")
    (folder / "seats.yaml").write_text(yaml.safe_dump(seats_doc(top + 10), allow_unicode=True), encoding="utf-8")
    overrides = {
        "storage": {"data_dir": str(folder / "data")}, "agents": {"seats": str(folder / "seats.yaml"),
                                                               "max_wait_s": 120},
        "ivr": {"tree": str(folder / "tree.yaml")}, "stt": {"model": "", "live": False},
        "fallback": {"queue_timeout_s": 60}, "log": {"level": "WARNING"},
        "trunks": {"bench": {"inbound_from": [f"{CARRIER_IP}/32"], "rtp_timeout_s": 60}},
        "recordings": {"compress": "none", "retention_days": 0},
        "asterisk": {"version": asterisk, "binds": [str(folder)]},      # 22: scripts/setup --asterisk 22
    }
    settings = load(env={}, overrides=overrides)
    voice = TTSVoice(voice=settings.prompts.voice, speed=settings.prompts.speed)
    cache = PromptCache(folder / "sizing", voice)
    key_at = duration_s(Path(str(cache.ensure(GREETING)) + ".wav")) + 0.8     # during the menu prompt
    call_s = key_at + 2.2 + 1.5 + 2.5 + talk_s + 3.0
    controller = Controller({"overrides": overrides, "run": str(folder / "run"), "rec_dir": str(folder / "rec")})
    (folder / "run").mkdir()
    peers: Peers | None = None
    ami = None
    say = log or (lambda msg: None)
    try:
        info = await controller.start()
        ami = AMIClient("127.0.0.1", info["ports"]["ami"], info["ami_user"], info["ami_secret"])
        await ami.connect()
        k2p = KeyToPrompt()
        ami.on_event("*", k2p.on_event)
        peers = Peers(folder / "sipp", info["ports"]["sip"], key_at, talk_s)
        registered = await peers.register(info["creds"])
        peers.start_seats()
        await asyncio.sleep(1.0)
        await controller.ask("login")
        ready = await controller.ask("ready")
        say(f"seats registered {registered}, ready {ready}")
        pids = {"asterisk": info["pids"]["asterisk"], "controller": controller.proc.pid,
                "sipp_seats": peers.seats.proc.pid if peers.seats and peers.seats.proc else 0}
        sides: dict[str, list[dict]] = {}
        for side, did in (("baseline_plain_dialplan", DID_PLAIN), ("controller", DID_OURS)):
            rows: list[dict] = []
            for level in steps:
                await controller.ask("login")         # every seat ready again (wrap-up, a missed ring)
                row = await _level(peers, ami, "plain" if side.startswith("baseline") else "ours", did, level, pids,
                                   k2p, call_s)
                rows.append(row)
                say(f"{side}: {level} concurrent: {row['completed']} completed, {row['failed']} failed, "
                    f"peak {row['peak_active_calls']} channels")
                if not row["zero_failures"] and first_failure:
                    break
                await asyncio.sleep(3.0)
            sides[side] = rows

        def held(rows: list[dict]) -> int:
            return max((r["concurrency"] for r in rows if r["zero_failures"]), default=0)

        def at(rows: list[dict], level: int) -> dict | None:
            return next((r for r in rows if r["concurrency"] == level), None)

        base_rows, our_rows = sides["baseline_plain_dialplan"], sides["controller"]
        common = min(held(base_rows), held(our_rows))
        b, o = at(base_rows, common), at(our_rows, common)
        return {
            "benchmark": "sip",
            "flow": "SIPp carrier (PCMA, RTP from a pcap) -> greeting -> menu key 2 (RFC 4733) -> describe "
                    "(prompt, beep, record to silence) -> queue -> SIPp seat answers, talks, hangs up",
            "seats": {"configured": top + 10, "registered": registered, "ready_at_start": ready},
            "levels": steps, "talk_s": talk_s,
            "max_concurrency_zero_failures": {"baseline_plain_dialplan": held(base_rows),
                                              "controller": held(our_rows),
                                              "ratio_controller_over_baseline": ratio(held(our_rows),
                                                                                      held(base_rows))},
            "at_common_level": {
                "concurrency": common,
                "calls_per_s_ratio": ratio(o["calls_per_s"], b["calls_per_s"]) if b and o else None,
                "asterisk_cpu_per_call_ratio": ratio(o["cpu_s_per_call"]["asterisk"],
                                                     b["cpu_s_per_call"]["asterisk"]) if b and o else None,
            },
            "baseline_plain_dialplan": base_rows,
            "controller": our_rows,
            "goal": {"concurrency": 400, "ratio": 0.9,
                     "met": held(our_rows) >= 400 and (ratio(held(our_rows), held(base_rows)) or 0) >= 0.9},
            "folder": str(folder),
        }
    finally:
        if ami is not None:
            with contextlib.suppress(Exception):
                await ami.close()
        if peers is not None:
            peers.stop()
        await controller.stop()
