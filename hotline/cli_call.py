"""`hotline call`: a real call through the running hotline, answered by a
simulated caller who presses the given keys at the IVR's prompts and says a
WAV when asked to describe the problem. Prints the IVR path and outcome in
the `hotline ivr simulate` JSON form, plus the seat and the draft ticket.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from hotline import running
from hotline.running import NoHotline, find_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("call", help="place a real call through the running hotline (see `hotline up`)")
    p.add_argument("--caller", required=True, help="caller number")
    p.add_argument("--name", help="caller name (caller ID name)")
    p.add_argument("--did", default="12345", help="number dialled (default 12345)")
    p.add_argument("--keys", default="", help="keys for the IVR's prompts; commas separate prompts, '' = no key")
    p.add_argument("--say", type=Path, help="WAV the caller says when the IVR records their account")
    running.add_arguments(p, redis=False)
    p.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    p.set_defaults(func=run)


def telephone_wav(src: Path, folder: Path) -> str:
    """The WAV as 8 kHz mono 16-bit (what Playback wants), cached by content; path without extension."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = folder / f"say-{digest}.wav"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-V1", str(src), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                        str(out)], check=True)
    return str(out.with_suffix(""))


async def _call(args: argparse.Namespace, run: Path) -> dict:
    from devstack.simcall import place_call
    from ivr.calls import CallRecords
    from pbx.ami import AMIClient

    info = json.loads((run / "ready.json").read_text())
    wav = telephone_wav(args.say, run / "sounds") if args.say else None
    ami = AMIClient("127.0.0.1", info["ports"]["ami"], info["ami_user"], info["ami_secret"])
    await ami.connect()
    redis = running.redis_client(info["redis"])
    try:
        result = await place_call(ami, did=args.did, caller=args.caller, caller_name=args.name, keys=args.keys,
                                  wav=wav, answer_prompts=True, hold=args.timeout, timeout=args.timeout)
        record = await CallRecords(redis).get(result.ivr_uniqueid) or {}
    finally:
        await ami.close()
        await redis.aclose()
    out = {"path": record.get("path", []), "outcome": record.get("outcome"),
           "call_id": result.ivr_uniqueid, "tree_version": int(record["version"]) if record.get("version") else None,
           "end_reason": record.get("end_reason") or None, "seat": record.get("seat") or None,
           "ticket": record.get("ticket") or None, "fallback": result.fallback, "completed": result.completed}
    if record.get("vars"):
        out["vars"] = record["vars"]
    return out


def run(args: argparse.Namespace) -> int:
    from kernel import logs
    from pbx.ami import AMIError

    logs.setup("ERROR")
    try:
        folder = find_run(args.run)
        out = asyncio.run(_call(args, folder))
    except (NoHotline, AMIError, OSError) as exc:
        print(f"hotline call: {exc}", file=sys.stderr)
        return 2
    json.dump(out, sys.stdout, ensure_ascii=False)
    print()
    return 0 if out["completed"] and not out["fallback"] else 1
