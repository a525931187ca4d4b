"""`hotline bench ...`: hot-path benchmarks, each against a baseline in the same run."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys


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
    stt = bsub.add_parser("stt", help="speech-to-text real-time factor and streams per core")
    stt.add_argument("--model", help="vosk model folder (default: stt.model, else the packaged test model)")
    stt.add_argument("--seconds", type=float, default=15.0, help="seconds of telephone audio per stream")
    stt.set_defaults(func=_stt)


def _agi(args: argparse.Namespace) -> int:
    from hotline import bench_agi, logs

    logs.setup("WARNING")
    out = asyncio.run(bench_agi.run(calls=args.calls))
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0 if out["controller_fastagi"]["completed"] == args.calls else 1


def _stt(args: argparse.Namespace) -> int:
    from hotline import logs
    from hotline.settings import load
    from recordings.bench_stt import run_bench
    from recordings.models import default_model_path
    from tickets.bench import run as extraction_bench

    logs.setup("WARNING")
    model = default_model_path(args.model or load().stt.model or None)
    if model is None:
        print("hotline bench stt: no vosk model (give --model or set stt.model)", file=sys.stderr)
        return 2
    out = {"stt": asyncio.run(run_bench(model, seconds=args.seconds)), "extraction": extraction_bench()}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _ivr(args: argparse.Namespace) -> int:
    from hotline import bench_ivr, logs

    logs.setup("WARNING")
    out = asyncio.run(bench_ivr.run(calls=args.calls))
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0 if out["controller_fastagi"]["reached_enterprise_lane"] == args.calls else 1
