"""`hotline tickets ...`: draft tickets from transcripts on the command line.

    hotline tickets extract            < transcript.txt   # one draft (contract JSON)
    hotline tickets extract --jsonl    < calls.jsonl      # {"id","transcript"} per line in, a draft per line out
    hotline tickets eval FILE                             # per-field accuracy JSON

`register(subparsers)` adds the commands to the main parser; each sets
`func(args) -> int` (the exit code). `main(argv)` runs them on their own.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from tickets.eval import EvalFileError, evaluate, load_cases
from tickets.extract import extract
from tickets.model import TicketsError
from tickets.rules import Rules, load_rules

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_BAD_CONFIG = 2


def register(subparsers: Any) -> None:
    """Add `tickets extract` and `tickets eval` to an argparse subparsers object."""
    parser = subparsers.add_parser("tickets", help="draft tickets from transcripts")
    sub = parser.add_subparsers(dest="tickets_command", metavar="COMMAND")
    sub.required = True

    ex = sub.add_parser("extract", help="read a transcript on stdin, print the draft ticket JSON")
    ex.add_argument("--jsonl", action="store_true",
                    help='batch: one {"id", "transcript"} object per input line, one draft per output line')
    ex.add_argument("--full", action="store_true", help="also print evidence and reasons")
    ex.add_argument("--rules", metavar="DIR", help="dictionary folder (default: config/tickets)")
    ex.set_defaults(func=cmd_extract)

    ev = sub.add_parser("eval", help="per-field accuracy over a labelled JSONL file")
    ev.add_argument("file", help="labelled cases, one JSON object per line")
    ev.add_argument("--split", help="only cases of this split (e.g. dev, holdout)")
    ev.add_argument("--misses", action="store_true", help="also list every wrong field")
    ev.add_argument("--rules", metavar="DIR", help="dictionary folder (default: config/tickets)")
    ev.set_defaults(func=cmd_eval)


def cmd_extract(args: argparse.Namespace, stdin: IO[bytes] | None = None,
                stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    rules = _rules(args, stderr)
    if rules is None:
        return EXIT_BAD_CONFIG
    render = (lambda d: d.to_dict()) if args.full else (lambda d: d.to_contract())
    if not args.jsonl:
        text = stdin.read().decode("utf-8", errors="replace").strip()
        stdout.write(_dumps(render(extract(text, rules))) + "\n")
        return EXIT_OK
    status = EXIT_OK
    for number, raw in enumerate(stdin, start=1):
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        case_id: Any = None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            case_id = obj.get("id")
            transcript = obj.get("transcript")
            if not isinstance(transcript, str):
                raise ValueError("missing string 'transcript'")
        except ValueError as exc:
            status = EXIT_BAD_INPUT
            error = {"error": "tickets.bad_line", "line": number, "message": str(exc)}
            stdout.write(_dumps({"id": case_id, "error": error}) + "\n")
            continue
        stdout.write(_dumps({"id": case_id, **render(extract(transcript, rules))}) + "\n")
    return status


def cmd_eval(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    rules = _rules(args, stderr)
    if rules is None:
        return EXIT_BAD_CONFIG
    try:
        cases = load_cases(args.file)
    except EvalFileError as exc:
        stderr.write(f"tickets eval: {exc.message}\n")
        return EXIT_BAD_INPUT
    if args.split and not any(c.split == args.split for c in cases):
        stderr.write(f"tickets eval: {args.file}: no case in split {args.split!r}\n")
        return EXIT_BAD_INPUT
    out: dict[str, Any] = {"file": args.file, "split": args.split or "all",
                           **evaluate(cases, rules, args.split).to_dict(with_misses=args.misses)}
    if not args.split:
        out["splits"] = {s: evaluate(cases, rules, s).accuracy() for s in sorted({c.split for c in cases})}
    stdout.write(_dumps(out, indent=2) + "\n")
    return EXIT_OK


def _rules(args: argparse.Namespace, stderr: IO[str]) -> Rules | None:
    try:
        return load_rules(getattr(args, "rules", None))
    except TicketsError as exc:
        stderr.write(f"tickets: {exc.message}\n")
        return None


def _dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
