"""`hotline tickets ...`: draft tickets from transcripts on the command line.

    hotline tickets extract            < transcript.txt   # one draft (contract JSON)
    hotline tickets extract --jsonl    < calls.jsonl      # {"id","transcript"} per line in, a draft per line out
    hotline tickets eval FILE [--table] [--model V|off]   # per-field accuracy, confusion, emergency recall/precision
    hotline tickets train [--from tickets.jsonl] [--redis] # retrain from confirmed tickets; kept only if not worse
    hotline tickets model list | use VERSION              # the learned model's versions; roll back
    hotline tickets export [--since WHEN] > tickets.jsonl # the running hotline's tickets, JSON Lines
    hotline tickets dead-letters                          # hand-offs that gave up, one JSON per line
    hotline tickets redrive ID | --all                    # put dead letters back on the outbox

export, dead-letters and redrive work on the running hotline's Redis (the
latest `hotline up`, `--run FOLDER`, or `--redis-url URL`), found as every command finds it
(hotline/running.py).

`register(subparsers)` adds the commands to the main parser; each sets
`func(args) -> int` (the exit code). `main(argv)` runs them on their own.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from hotline import running
from tickets.eval import EvalFileError, evaluate, load_cases
from tickets.extract import extract
from tickets.model import TicketsError
from tickets.rules import Rules, load_rules
from tickets.store import DEFAULT_TZ

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_BAD_CONFIG = 2
EXIT_NO_HOTLINE = 2


def register(subparsers: Any) -> None:
    """Add the `tickets` commands to an argparse subparsers object."""
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

    ev.add_argument("--table", action="store_true", help="print tables (accuracy, confusion, emergencies), not JSON")
    ev.add_argument("--model", metavar="VERSION", help="model version to use, or 'off' for the rules only")

    tr = sub.add_parser("train", help="retrain the model from confirmed tickets; keep it only if not worse")
    tr.add_argument("--from", dest="sources", metavar="FILE", action="append", default=[],
                    help="exported tickets (hotline tickets export) to learn from; repeatable")
    tr.add_argument("--redis", action="store_true", help="also read the running hotline's confirmed tickets")
    tr.add_argument("--since", default="90d", help="with --redis: tickets received since (default 90d)")
    running.add_arguments(tr)
    tr.set_defaults(func=cmd_train)

    md = sub.add_parser("model", help="the learned model's versions")
    msub = md.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    ml = msub.add_parser("list", help="versions, which is current, their held-out figures")
    ml.set_defaults(func=cmd_model_list)
    mu = msub.add_parser("use", help="make VERSION current (roll back or forward)")
    mu.add_argument("version")
    mu.set_defaults(func=cmd_model_use)

    xp = sub.add_parser("export", help="the running hotline's tickets as JSON Lines on stdout")
    xp.add_argument("--since", metavar="WHEN",
                    help="first day (2026-12-01), a time (2026-12-01T08:00, local unless it has an offset) "
                         "or an age (36h, 7d); default: today")
    xp.add_argument("--until", metavar="DAY", help="last day, inclusive (default: today)")
    xp.add_argument("--mask", action="store_true", help="leave personal data out (numbers, names, transcripts)")
    running.add_arguments(xp)
    xp.add_argument("--database-url", default=None,
                    help="read from this records database (default: the running hotline's PostgreSQL; "
                         "--redis-url reads Redis instead)")
    xp.set_defaults(func=cmd_export)

    dl = sub.add_parser("dead-letters", help="tickets whose hand-off gave up, oldest first (JSON Lines)")
    dl.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    running.add_arguments(dl)
    dl.set_defaults(func=cmd_dead_letters)

    rd = sub.add_parser("redrive", help="put dead-lettered tickets back on the hand-off outbox")
    which = rd.add_mutually_exclusive_group(required=True)
    which.add_argument("ticket", nargs="?", help="the ticket id")
    which.add_argument("--all", action="store_true", help="every dead letter")
    running.add_arguments(rd)
    rd.set_defaults(func=cmd_redrive)


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
    model = _model_arg(args, stderr)
    if model is False:
        return EXIT_BAD_INPUT
    report = evaluate(cases, rules, args.split, model=model)
    out: dict[str, Any] = {"file": args.file, "split": args.split or "all",
                           **report.to_dict(with_misses=args.misses)}
    if not args.split:
        out["splits"] = {s: evaluate(cases, rules, s, model=model).accuracy() for s in sorted({c.split for c in cases})}
    if getattr(args, "table", False):
        stdout.write(format_report(out))
    else:
        stdout.write(_dumps(out, indent=2) + "\n")
    return EXIT_OK


def _model_arg(args: argparse.Namespace, stderr: IO[str]) -> Any:
    """The model --model names (None for 'off'), the default when not given, False on error."""
    from tickets import learned
    from tickets.extract import DEFAULT

    name = getattr(args, "model", None)
    if not name:
        return DEFAULT
    if name in ("off", "rules", "none"):
        return None
    try:
        if not learned._VERSION.match(name):
            raise learned.ModelError("tickets.model_unknown", f"no model {name!r}")
        return learned.load(learned.model_dir() / f"{name}.pkl")
    except (OSError, learned.ModelError) as exc:
        stderr.write(f"tickets eval: --model {name}: {exc}\n")
        return False


def format_report(out: Mapping[str, Any]) -> str:
    """Per-field accuracy, emergency recall/precision and the category confusion table as text."""
    lines = [f"{out.get('file')} ({out.get('split')}): {out.get('cases')} case(s)", "", "field            accuracy   correct/total"]
    for name, acc in out["accuracy"].items():
        c = out["counts"][name]
        lines.append(f"{name:<16} {('-' if acc is None else f'{acc:.3f}'):>8}   {c['correct']}/{c['total']}")
    em = out["emergency"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines += ["", f"emergency recall {fmt(em['recall'])} ({em['detected']}/{em['expected']} with the right kind), "
              f"precision {fmt(em['precision'])} ({em['right']}/{em['raised']} raised)", "",
              "category L1 confusion (rows: labelled, columns: extracted)"]
    conf = out["category_confusion"]
    names = sorted(set(conf) | {g for row in conf.values() for g in row})
    short = {n: n[:4] for n in names}
    lines.append(" " * 10 + " ".join(f"{short[n]:>5}" for n in names))
    for want in sorted(conf):
        lines.append(f"{short[want]:<10}" + " ".join(f"{conf[want].get(n, 0) or '.':>5}" for n in names))
    return "\n".join(lines) + "\n"


def cmd_train(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    from tickets.training import retrain

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    tickets: list[dict[str, Any]] = []
    for path in args.sources:
        try:
            with open(path, encoding="utf-8") as fh:
                tickets += [json.loads(line) for line in fh if line.strip()]
        except (OSError, ValueError) as exc:
            stderr.write(f"tickets train: {path}: {exc}\n")
            return EXIT_BAD_INPUT
    if args.redis:
        import io

        from tickets.store import TicketStore
        tz = ZoneInfo(DEFAULT_TZ)
        try:
            first, after = parse_since(args.since, tz, time.time())
        except WhenError as exc:
            stderr.write(f"tickets train: {exc}\n")
            return EXIT_BAD_INPUT
        buf = io.StringIO()

        async def body(redis) -> int:
            await TicketStore(redis, tz=DEFAULT_TZ).export_jsonl(buf, first, datetime.now(tz).date(), after=after)
            return EXIT_OK
        status = _run_on_redis(args, "train", body, stderr)
        if status != EXIT_OK:
            return status
        tickets += [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    outcome = retrain(tickets)
    stdout.write(_dumps(outcome.to_dict(), indent=2) + "\n")
    return EXIT_OK


def cmd_model_list(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    from tickets import learned

    stdout = stdout if stdout is not None else sys.stdout
    for v in learned.versions():
        stdout.write(_dumps({k: v.get(k) for k in ("version", "current", "cases", "source", "kept", "heldout",
                                                   "trained_at") if k in v}) + "\n")
    return EXIT_OK


def cmd_model_use(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    from tickets import learned

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        learned.use(args.version)
    except learned.ModelError as exc:
        stderr.write(f"tickets model use: {exc.message}\n")
        return EXIT_BAD_INPUT
    stdout.write(_dumps({"current": args.version}) + "\n")
    return EXIT_OK


# -- the running hotline's tickets -----------------------------------------------------------

class WhenError(ValueError):
    pass


def parse_since(text: str | None, tz: ZoneInfo, now: float) -> tuple[date, float | None]:
    """`--since` as (first day to read, earliest receive time or None for whole days)."""
    today = datetime.fromtimestamp(now, tz).date()
    if not text:
        return today, None
    text = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([hd])", text)
    if m:
        after = now - float(m.group(1)) * (3600 if m.group(2) == "h" else 86400)
        return datetime.fromtimestamp(after, tz).date(), after
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text), None
        when = datetime.fromisoformat(text)
    except ValueError:
        raise WhenError(f"--since {text!r}: give a day (2026-12-01), a time (2026-12-01T08:00) "
                        "or an age (36h, 7d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(tz).date(), when.timestamp()


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text if "-" in text else f"{text[:4]}-{text[4:6]}-{text[6:]}")
    except ValueError:
        raise WhenError(f"--until {text!r}: give a day (2026-12-01)") from None


def _hotline_redis(args: argparse.Namespace, what: str, stderr: IO[str]):
    """A Redis client on the running hotline's Redis, or None (message written)."""
    try:
        return running.redis_client(running.redis_url(args))
    except running.NoHotline as exc:
        stderr.write(f"hotline tickets {what}: {exc}\n")
        return None


def _run_on_redis(args: argparse.Namespace, what: str, body, stderr: IO[str]) -> int:
    from redis.exceptions import RedisError

    redis = _hotline_redis(args, what, stderr)
    if redis is None:
        return EXIT_NO_HOTLINE

    async def go() -> int:
        try:
            return await body(redis)
        finally:
            await redis.aclose()
    try:
        return asyncio.run(go())
    except RedisError as exc:
        stderr.write(f"hotline tickets {what}: Redis: {exc}\n")
        return EXIT_NO_HOTLINE


def cmd_export(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    from tickets.store import TicketStore

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    tz = ZoneInfo(DEFAULT_TZ)
    try:
        first, after = parse_since(args.since, tz, time.time())
        last = _parse_day(args.until) if args.until else datetime.now(tz).date()
    except WhenError as exc:
        stderr.write(f"hotline tickets export: {exc}\n")
        return EXIT_BAD_INPUT
    if last < first:
        stderr.write(f"hotline tickets export: --until {last} is before --since {first}\n")
        return EXIT_BAD_INPUT

    database = None if getattr(args, "redis_url", None) else running.database_url(args)
    if database:           # the system of record (PostgreSQL): every ticket, whatever Redis lost
        from hotline.cli_db import export_tickets

        return export_tickets(database, stdout, stderr, first, last, mask=args.mask, after=after)

    async def body(redis) -> int:
        count = await TicketStore(redis, tz=DEFAULT_TZ).export_jsonl(stdout, first, last, mask=args.mask, after=after)
        stdout.flush()
        stderr.write(f"hotline tickets export: {count} ticket(s) received {first} .. {last}\n")
        return EXIT_OK
    return _run_on_redis(args, "export", body, stderr)


def cmd_dead_letters(args: argparse.Namespace, stdout: IO[str] | None = None,
                     stderr: IO[str] | None = None) -> int:
    from tickets.outbox import Outbox

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    tz = ZoneInfo(DEFAULT_TZ)

    async def body(redis) -> int:
        for dead in await Outbox(redis).dead_letters(max(1, args.limit)):
            row = dead.to_dict()
            row["at"] = datetime.fromtimestamp(dead.at, tz).isoformat(timespec="seconds")
            stdout.write(_dumps(row) + "\n")
        return EXIT_OK
    return _run_on_redis(args, "dead-letters", body, stderr)


def cmd_redrive(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    from tickets.outbox import Outbox

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr

    async def body(redis) -> int:
        done = await Outbox(redis).redrive(time.time(), None if args.all else args.ticket)
        stdout.write(_dumps({"redriven": done}) + "\n")
        if not args.all and not done:
            stderr.write(f"hotline tickets redrive: {args.ticket} is not in the dead-letter list\n")
            return EXIT_BAD_INPUT
        return EXIT_OK
    return _run_on_redis(args, "redrive", body, stderr)


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
