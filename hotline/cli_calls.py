"""`hotline calls recent`: what happened to the latest calls, newest first (operators, support, tests)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from hotline import running
from kernel.privacy import mask_number

MAX_LIMIT = 1000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calls", help="calls of the running hotline")
    running.add_arguments(p)
    csub = p.add_subparsers(dest="calls_cmd", metavar="ACTION")
    csub.required = True
    r = csub.add_parser("recent", help="the latest calls, newest first")
    r.add_argument("--json", action="store_true", help="a JSON list of objects")
    r.add_argument("--limit", type=int, default=20, help=f"how many (default 20, at most {MAX_LIMIT})")
    r.add_argument("--unmasked", action="store_true", help="caller numbers in full (admins; masked by default)")
    r.add_argument("--run", dest="run_sub", help=argparse.SUPPRESS)
    r.set_defaults(func=run)


def _abs(path: str) -> str:
    return str(Path(path).resolve()) if path else ""


def summary(rec: dict[str, Any], *, unmasked: bool = False) -> dict[str, Any]:
    """One call record as `calls recent --json` prints it (pure)."""
    caller = rec.get("caller") or ""
    path = rec.get("path") if isinstance(rec.get("path"), list) else []
    recordings = [_abs(p) for p in (rec.get("describe_recording"), rec.get("recording")) if p]
    started = rec.get("started")
    return {
        "call_id": rec.get("call_id", ""),
        "channel": rec.get("channel", ""),
        "caller": caller if unmasked else (mask_number(caller) if caller else ""),
        "withheld": rec.get("withheld") == "1" or not caller,
        "did": rec.get("did", ""),
        "trunk": rec.get("trunk") or None,
        "path": path,
        "lane": rec.get("lane") or None,
        "seat": rec.get("seat") or None,
        "status": rec.get("status") or None,
        "end_reason": rec.get("end_reason") or None,
        "recordings": recordings,
        "ticket": rec.get("ticket") or None,
        "node": rec.get("node") or None,
        "ivr_node": path[-1] if path else None,
        "started": float(started) if started else None,
        "ended": float(rec["ended"]) if rec.get("ended") else None,
    }


def text_line(s: dict[str, Any]) -> str:
    import datetime as dt
    when = dt.datetime.fromtimestamp(s["started"]).strftime("%m-%d %H:%M:%S") if s["started"] else "-"
    return "  ".join([when, s["call_id"], s["caller"] or "(withheld)", s["did"] or "-", "→".join(s["path"]) or "-",
                      s["lane"] or "-", s["seat"] or "-", s["end_reason"] or s["status"] or "-",
                      s["ticket"] or "-"])


async def _recent(url: str, limit: int, unmasked: bool) -> list[dict[str, Any]]:
    from ivr.calls import CallRecords

    redis = running.redis_client(url)
    try:
        return [summary(r, unmasked=unmasked) for r in await CallRecords(redis).latest(limit)]
    finally:
        await redis.aclose()


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        print(f"hotline calls: --limit must be 1..{MAX_LIMIT}", file=sys.stderr)
        return 2
    args.run = args.run_sub or args.run
    try:
        out = asyncio.run(_recent(running.redis_url(args), args.limit, args.unmasked))
    except running.NoHotline as exc:
        print(f"hotline calls: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(out, sys.stdout, ensure_ascii=False)
        print()
    else:
        for s in out:
            print(text_line(s))
    return 0
