"""`hotline bench ...`: hot-path benchmarks, each against a baseline in the same run."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from types import ModuleType

from hotline.settings import REPO


def _bench(name: str) -> ModuleType:
    """A module of the top-level `bench` package, which is not installed with the runtime: imported from
    the checkout this `hotline` runs from (the repository root goes on sys.path)."""
    if (REPO / "bench" / "__init__.py").is_file() and str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as e:
        if e.name not in ("bench", f"bench.{name}"):
            raise
        raise SystemExit(f"hotline bench: the benchmarks are not installed with the runtime; run them from a "
                         f"source checkout (no bench/ package beside {REPO / 'hotline'})") from e


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (JSON out, ratios against a baseline in the same run)")
    bsub = p.add_subparsers(dest="bench", metavar="WHAT")
    bsub.required = True
    agi = bsub.add_parser("agi", help="FastAGI round trip vs the same flow in plain dialplan")
    agi.add_argument("--calls", type=int, default=50, help="concurrent simulated calls (default 50)")
    agi.set_defaults(func=_agi)
    ivr = bsub.add_parser("ivr", help="the default tree through the controller vs plain dialplan; validation time")
    ivr.add_argument("--calls", type=int, default=100, help="concurrent calls (default 100)")
    ivr.set_defaults(func=_ivr)
    routing = bsub.add_parser("routing", help="routing decisions on Redis, and seat free -> ringing "
                                              "vs Asterisk's own Queue() on the same Asterisk")
    routing.add_argument("--callers", type=int, default=1000, help="callers waiting for the Redis part (default 1000)")
    routing.add_argument("--lanes", type=int, default=3, help="lanes (default 3)")
    routing.add_argument("--seats", type=int, default=50, help="seats for the Redis part (default 50)")
    routing.add_argument("--free-rate", type=float, default=200.0, help="seats freed per second (default 200)")
    routing.add_argument("--live-callers", type=int, default=40,
                         help="simulated callers through Asterisk, each side (default 40; 0: skip)")
    routing.add_argument("--live-seats", type=int, default=10, help="demo seats through Asterisk (default 10, max 10)")
    routing.set_defaults(func=_routing)
    webp = bsub.add_parser("web", help="live fan-out latency: AMI event in -> WebSocket message out, "
                                        "vs a raw AMI and a raw Redis stream subscriber")
    webp.add_argument("--clients", type=int, default=200, help="WebSocket pages (default 200)")
    webp.add_argument("--events", type=int, default=200, help="events measured (default 200)")
    webp.add_argument("--rate", type=float, default=50.0, help="events per second (default 50)")
    webp.set_defaults(func=_web)
    sipb = bsub.add_parser("sip", help="real SIP load: SIPp carrier calls with RTP ramped up until the first "
                                        "failure, controller vs plain dialplan on the same Asterisk")
    sipb.add_argument("--max", type=int, default=600, help="highest concurrency tried (default 600)")
    sipb.add_argument("--levels", help="concurrency levels, comma-separated (default 10,25,50,100,150,200,300,"
                                       "400,500,600 up to --max)")
    sipb.add_argument("--talk", type=float, default=4.0, help="seconds each seat talks (default 4)")
    sipb.add_argument("--keep-going", action="store_true", help="try every level even after a failed one")
    sipb.add_argument("--asterisk", type=int, choices=(16, 22), default=16,
                      help="the Asterisk to load (22: scripts/setup --asterisk 22)")
    sipb.set_defaults(func=_sip)
    tk = bsub.add_parser("tickets", help="draft-ticket extraction: drafts/s with the model and rules only, "
                                         "vs jieba segmentation of the same text")
    tk.add_argument("--rounds", type=int, default=3)
    tk.set_defaults(func=_tickets)
    dbp = bsub.add_parser("db", help="records writes (confirm-ticket, call-record) vs a plain INSERT, on a "
                                     "private PostgreSQL")
    dbp.add_argument("--records", type=int, default=2000, help="records of each kind (default 2000)")
    dbp.add_argument("--report-calls", type=int, default=1_000_000,
                     help="generated call records for the quarter report in SQL (default 1,000,000; 0: skip)")
    dbp.set_defaults(func=_db)
    kbp = bsub.add_parser("knowledge", help="knowledge-base search per transcript update (jieba + pinyin, PostgreSQL "
                                            "full text) vs a plain ILIKE scan, on a private PostgreSQL")
    kbp.add_argument("--articles", type=int, default=3000, help="generated articles (default 3000)")
    kbp.add_argument("--calls", type=int, default=50, help="calls of 4 growing turns (default 50)")
    kbp.set_defaults(func=_knowledge)
    stt = bsub.add_parser("stt", help="speech-to-text real-time factor and streams per core")
    stt.add_argument("--model", help="vosk model folder (default: stt.model, else the packaged test model)")
    stt.add_argument("--seconds", type=float, default=15.0, help="seconds of telephone audio per stream")
    stt.add_argument("--live", action="store_true",
                     help="also measure live-conversation capture (MixMonitor files vs ChanSpy+EAGI) on a "
                          "private Asterisk: speech -> partial on Redis latency and CPU")
    stt.add_argument("--live-only", action="store_true", help="only the live-capture section")
    stt.add_argument("--asterisk", type=int, choices=(16, 22), default=16,
                     help="the Asterisk --live runs on (22: scripts/setup --asterisk 22; adds AudioSocket)")
    stt.add_argument("--calls", type=int, default=1,
                     help="simultaneous calls per capture mode for --live (default 1: two streams)")
    stt.set_defaults(func=_stt)


def _emit(coro) -> dict:
    """Run one benchmark quietly and print its JSON."""
    from kernel import logs

    logs.setup("WARNING")
    out = asyncio.run(coro)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return out


def _agi(args: argparse.Namespace) -> int:
    bench_agi = _bench("agi")

    out = _emit(bench_agi.run(calls=args.calls))
    return 0 if out["controller_fastagi"]["completed"] == args.calls else 1


def _db(args: argparse.Namespace) -> int:
    bench_db = _bench("db")

    out = _emit(bench_db.run(records=max(10, args.records), report_calls=max(0, args.report_calls)))
    return 0 if out["confirm_ticket"]["records"] == max(10, args.records) and out["call_record"]["ended"] else 1


def _knowledge(args: argparse.Namespace) -> int:
    out = _emit(_bench("knowledge").run(articles=max(10, args.articles), calls=max(1, args.calls)))
    return 0 if out["knowledge_search"]["updates"] and not out["knowledge_search"]["expired_suggested"] else 1


def _routing(args: argparse.Namespace) -> int:
    bench_routing = _bench("routing")

    out = _emit(bench_routing.run(callers=args.callers, lanes=args.lanes, seats=args.seats,
                                  free_rate=args.free_rate, live_callers=args.live_callers,
                                  live_seats=args.live_seats))
    live = out.get("live_asterisk")
    ok = out["decisions_redis"]["assignments"] > 0 and (
        live is None or all(live[k]["completed"] == args.live_callers for k in ("baseline_app_queue", "hotline")))
    return 0 if ok else 1


def _sip(args: argparse.Namespace) -> int:
    bench_sip = _bench("sip")

    try:
        levels = [int(x) for x in args.levels.split(",")] if args.levels else None
    except ValueError:
        print("hotline bench sip: --levels takes whole numbers separated by commas", file=sys.stderr)
        return 2
    if not 1 <= args.max <= 2000 or (levels and any(not 1 <= n <= 2000 for n in levels)):
        print("hotline bench sip: concurrency must be 1..2000", file=sys.stderr)
        return 2

    def say(msg: str) -> None:
        print(f"bench sip: {msg}", file=sys.stderr, flush=True)
    out = _emit(bench_sip.run(max_calls=args.max, levels=levels, talk_s=args.talk,
                              first_failure=not args.keep_going, asterisk=args.asterisk, log=say))
    held = out["max_concurrency_zero_failures"]
    say(f"held with 0 failures: controller {held['controller']}, plain dialplan {held['baseline_plain_dialplan']}, "
        f"ratio {held['ratio_controller_over_baseline']}")
    return 0 if held["controller"] > 0 else 1


def _web(args: argparse.Namespace) -> int:
    bench_web = _bench("web")

    out = _emit(bench_web.run(clients=args.clients, events=args.events, rate=args.rate))
    rows = [out[k] for k in ("consoles", "supervisors")]
    return 0 if all(r["websocket_ms"]["lost"] == 0 and r["pages"] == args.clients for r in rows) else 1


def _tickets(args: argparse.Namespace) -> int:
    run = _bench("extraction").run

    async def go() -> dict:
        return run(rounds=args.rounds)
    _emit(go())
    return 0


def _stt(args: argparse.Namespace) -> int:
    from hotline.settings import load
    from recordings.stt.models import default_model_path

    run_bench = _bench("stt").run_bench
    extraction_bench = _bench("extraction").run

    model = default_model_path(args.model or load().stt.model or None)
    if model is None:
        print("hotline bench stt: no vosk model (give --model or set stt.model)", file=sys.stderr)
        return 2
    async def both() -> dict:
        out: dict = {}
        if not args.live_only:
            out = {"stt": await run_bench(model, seconds=args.seconds), "extraction": extraction_bench()}
        if args.live or args.live_only:
            live_bench = _bench("live").run
            out["live"] = await live_bench(model, calls=args.calls, asterisk=args.asterisk)
        return out
    _emit(both())
    return 0


def _ivr(args: argparse.Namespace) -> int:
    bench_ivr = _bench("ivr")

    out = _emit(bench_ivr.run(calls=args.calls))
    return 0 if out["controller_fastagi"]["reached_enterprise_lane"] == args.calls else 1
