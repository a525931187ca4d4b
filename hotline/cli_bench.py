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


def _agi(args: argparse.Namespace) -> int:
    from hotline import bench_agi, logs

    logs.setup("WARNING")
    out = asyncio.run(bench_agi.run(calls=args.calls))
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0 if out["controller_fastagi"]["completed"] == args.calls else 1
