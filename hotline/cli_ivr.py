"""`hotline ivr ...`: validate, simulate and diff IVR tree files (no Asterisk, no Redis).

    hotline ivr validate FILE [--json] [--base-dir DIR] [--max-bytes N]
    hotline ivr simulate FILE --caller NUM [--did DID] [--keys DIGITS] [--at ISO_TIME]
                              [--recent-calls N] [--base-dir DIR]
    hotline ivr diff OLD NEW [--json]

Exit codes: 0 valid / done; 1 the tree has problems (one ``path: message``
line each); 2 bad arguments. The lead's hotline/cli.py wires ``register``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ivr.diff import diff_trees, summarize
from ivr.engine import EngineError
from ivr.loader import DEFAULT_MAX_BYTES, load_file
from ivr.problems import Problem
from ivr.simulate import facts_for, parse_at, simulate


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ivr`` command (and its subcommands) to a parser's subparsers."""
    ivr = subparsers.add_parser("ivr", help="check and try out IVR trees",
                                description="Check IVR tree files and walk them without Asterisk.")
    sub = ivr.add_subparsers(dest="ivr_command", metavar="{validate,simulate,diff}")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base-dir", type=Path, default=None,
                       help="where relative paths in the tree (lists, prompts, overrides) resolve from "
                            "(default: the config root: the parent of an 'ivr' folder holding FILE, "
                            "else FILE's folder)")
        p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                       help=f"refuse documents larger than this (default {DEFAULT_MAX_BYTES})")

    v = sub.add_parser("validate", help="report every problem of a tree (exit 1 if any)")
    v.add_argument("file", type=Path)
    v.add_argument("--json", action="store_true", help="print a JSON list of {path, code, message}")
    common(v)
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("simulate", help="walk a tree for one call and print its path and outcome")
    s.add_argument("file", type=Path)
    s.add_argument("--caller", required=True, help="caller number (any usual format)")
    s.add_argument("--did", default=None, help="the number dialled")
    s.add_argument("--keys", default="", help="keys pressed, one prompt at a time; commas separate "
                                              "the answers to successive prompts; when they run out "
                                              "the caller presses nothing")
    s.add_argument("--at", default=None, help="arrival time, ISO 8601 (naive: the tree's time zone, "
                                              "Asia/Shanghai); default now")
    s.add_argument("--recent-calls", type=int, default=0, help="the caller's recent calls (repeat checks)")
    common(s)
    s.set_defaults(func=cmd_simulate)

    d = sub.add_parser("diff", help="semantic diff between two tree files")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)
    d.add_argument("--json", action="store_true")
    common(d)
    d.set_defaults(func=cmd_diff)


def _print_problems(problems: tuple[Problem, ...] | list[Problem], *, file=None) -> None:
    out = file or sys.stdout
    for p in problems:
        print(str(p), file=out)


def cmd_validate(args: argparse.Namespace) -> int:
    result = load_file(args.file, base_dir=args.base_dir, max_bytes=args.max_bytes)
    if args.json:
        print(json.dumps([p.to_dict() for p in result.problems], ensure_ascii=False, indent=2))
    else:
        _print_problems(result.problems)
    return 0 if result.ok else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    result = load_file(args.file, base_dir=args.base_dir, max_bytes=args.max_bytes)
    if not result.ok:
        _print_problems(result.problems, file=sys.stderr)
        return 1
    tree = result.require()
    try:
        at = parse_at(args.at, tree.timezone)
    except ValueError:
        print(f"--at: not an ISO time: {args.at!r}", file=sys.stderr)
        return 2
    facts = facts_for(tree, caller=args.caller, did=args.did, at=at, lists=result.lists,
                      recent_calls=args.recent_calls)
    try:
        sim = simulate(tree, facts, args.keys or "")
    except ValueError as exc:  # bad --keys
        print(f"--keys: {exc}", file=sys.stderr)
        return 2
    except EngineError as exc:
        print(f"simulation failed: {exc.message} {json.dumps(exc.details, ensure_ascii=False)}", file=sys.stderr)
        return 1
    print(json.dumps(sim.to_dict(), ensure_ascii=False))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    old = load_file(args.old, base_dir=args.base_dir, max_bytes=args.max_bytes)
    new = load_file(args.new, base_dir=args.base_dir, max_bytes=args.max_bytes)
    bad = [(f, r) for f, r in ((args.old, old), (args.new, new)) if not r.ok]
    for f, r in bad:
        for p in r.problems:
            print(f"{f}: {p}", file=sys.stderr)
    if bad:
        return 1
    diff = diff_trees(old.require(), new.require())
    if args.json:
        print(json.dumps(diff, ensure_ascii=False, indent=2))
    else:
        for line in summarize(diff):
            print(line)
    return 0
