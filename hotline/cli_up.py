"""`hotline up`: everything on this machine until Ctrl-C or SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from hotline.settings import SettingsError, load
from kernel import logs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start Redis, Asterisk, the controller and the web app; Ctrl-C stops all")
    p.add_argument("--config", type=Path, help="site configuration file (its conf.d/ is read too)")
    p.add_argument("--web-port", type=int, help="web port (default: a free port)")
    p.add_argument("--fastagi-port", type=int, help="FastAGI port (default: a free port)")
    p.add_argument("--demo-seats", type=int, default=0, help="log in N simulated auto-answering seats")
    p.add_argument("--demo-wrap-up", type=float, default=None, metavar="SECONDS",
                   help="the demo seats' wrap-up after each call (default: wrap_up_s of the seats config); "
                        "`hotline seats ready SEAT` ends it early")
    p.add_argument("--nodes", type=int, default=0, metavar="N",
                   help="Kamailio at the SIP edge and N nodes (Asterisk + controller) on loopback addresses, "
                        "one Redis, one PostgreSQL, one web app (hotline/cluster_up.py)")
    p.add_argument("--sentinel", action="store_true",
                   help="with --nodes: Redis Sentinel (a master, a replica, three sentinels) under the nodes")
    p.set_defaults(func=run)


async def _serve(settings, demo_seats: int, demo_wrap_up_s: float | None = None, nodes: int = 0,
                 sentinel: bool = False) -> int:
    from hotline.app import compose
    from hotline.cluster_up import Cluster
    from hotline.runtime import new_run_dir

    run_dir = new_run_dir(settings, "cluster" if nodes else "up")
    runtime = Cluster(settings, run_dir, nodes, demo_seats=demo_seats, demo_wrap_up_s=demo_wrap_up_s,
                                                sentinel=sentinel) if nodes \
        else compose(settings, run_dir, demo_seats=demo_seats, demo_wrap_up_s=demo_wrap_up_s)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        starting = asyncio.ensure_future(runtime.start())
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({starting, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            info = runtime.ready_info()
            runtime.write_ready(info)
            print("READY " + json.dumps(info, ensure_ascii=False), flush=True)
            await stop.wait()
        else:
            starting.cancel()
        print("stopping…", file=sys.stderr, flush=True)
        return 0
    except Exception as exc:
        print(f"hotline up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        await runtime.stop()
        print("stopped", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    overrides: dict = {"network": {}}
    if args.web_port is not None:
        overrides["network"]["web_port"] = args.web_port
    if args.fastagi_port is not None:
        overrides["network"]["fastagi_port"] = args.fastagi_port
    try:
        settings = load(args.config, overrides=overrides)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.setup(settings.log.level)
    if args.demo_wrap_up is not None and not 0 <= args.demo_wrap_up <= 3600:
        print("--demo-wrap-up: seconds from 0 to 3600", file=sys.stderr)
        return 2
    if args.nodes and not 1 <= args.nodes <= 8:
        print("--nodes: 1 to 8", file=sys.stderr)
        return 2
    if args.sentinel and not args.nodes:
        print("--sentinel goes with --nodes", file=sys.stderr)
        return 2
    return asyncio.run(_serve(settings, args.demo_seats, args.demo_wrap_up, args.nodes, args.sentinel))
