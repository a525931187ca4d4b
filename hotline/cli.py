"""The `hotline` command: one entry point, each command registered by its module."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
from types import FrameType

from devstack.procs import set_private_umask

# Modules that add commands: each has register(subparsers).
COMMANDS = (
    "hotline.cli_up",
    "hotline.cli_ivr",
    "hotline.cli_call",
    "hotline.cli_tickets",
    "hotline.cli_stt",
    "hotline.cli_bench",
    "hotline.cli_users",
    "hotline.cli_seats",
    "hotline.cli_calls",
    "hotline.cli_db",          # last: it adds `calls reconcile|records` to a `calls` command registered before it
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="株洲12345 hotline: IVR and call routing")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_term() -> None:
    """SIGTERM and SIGHUP (a kill, a closed terminal) end a command as Ctrl-C does: its finally
    blocks stop the servers it started (bench runs start Asterisk, SIPp and controllers in their own
    sessions, which a signal to the command alone never reaches; Python's default for SIGTERM ends
    the process without unwinding and left them running). `hotline up` sets its own handlers."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)


def main(argv: list[str] | None = None) -> int:
    set_private_umask()                  # every file a command creates: 0640 at most
    stop_on_term()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
