"""`hotline seats`: operators at seats, for scripting (list, login, ready, pause, logout)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from hotline import running


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seats", help="seats and operators of the running hotline")
    running.add_arguments(p)
    ssub = p.add_subparsers(dest="seats_cmd", metavar="ACTION")
    ssub.required = True
    ssub.add_parser("list", help="every seat with its state").set_defaults(func=run)
    lg = ssub.add_parser("login", help="log an operator in to a seat")
    lg.add_argument("seat")
    lg.add_argument("operator")
    lg.add_argument("--paused", metavar="REASON", help="log in paused with this reason")
    lg.set_defaults(func=run)
    for name, helptext in (("ready", "the seat takes calls"), ("logout", "log the operator out")):
        sp = ssub.add_parser(name, help=helptext)
        sp.add_argument("seat")
        sp.set_defaults(func=run)
    pa = ssub.add_parser("pause", help="pause a seat with a reason (小休, 培训, 会议, 用餐 ...)")
    pa.add_argument("seat")
    pa.add_argument("reason")
    pa.set_defaults(func=run)


def _status(st) -> dict:
    return {"seat": st.seat_id, "state": st.state.value, "operator": st.operator_id or None,
            "reason": st.reason or None, "call": st.call_id or None}


async def _run(args: argparse.Namespace, url: str) -> object:
    from agents.config import load_seats
    from agents.service import SeatService
    from agents.store import RoutingStore
    from hotline.settings import load

    settings = load()
    redis = running.redis_client(url)
    try:
        store = RoutingStore(redis, load_seats(settings.path(settings.agents.seats)))
        await store.load_scripts()
        seats = SeatService(store)
        cmd = args.seats_cmd
        if cmd == "list":
            return [_status(s) for s in await seats.seats()]
        if cmd == "login":
            return _status(await seats.login(args.seat, args.operator, pause_reason=args.paused))
        if cmd == "ready":
            return _status(await seats.ready(args.seat))
        if cmd == "pause":
            return _status(await seats.pause(args.seat, args.reason))
        return _status(await seats.logout(args.seat))
    finally:
        await redis.aclose()


def run(args: argparse.Namespace) -> int:
    from agents.errors import AgentsError

    try:
        out = asyncio.run(_run(args, running.redis_url(args)))
    except running.NoHotline as exc:
        print(f"hotline seats: {exc}", file=sys.stderr)
        return 2
    except AgentsError as exc:
        print(json.dumps({"error": exc.error_id, "message": str(exc)}, ensure_ascii=False), file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, ensure_ascii=False)
    print()
    return 0
