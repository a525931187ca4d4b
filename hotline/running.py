"""How every CLI command finds the running hotline: one way for all of them.

`hotline up` writes RUN/ready.json (0600: it names the AMI secret and Redis) and points
run/current at RUN. Commands that work on the running hotline (users, seats, tickets,
calls, call) take

    --run FOLDER       another `hotline up`'s run folder (default: run/current)
    --redis-url URL    a Redis of your choice instead (users, seats, tickets: commands that
                       only need Redis; e.g. a site whose Redis is not started by `hotline up`)

and fall back, for Redis only, to the settings' `redis.url` when no hotline runs here.

    parser = sub.add_parser("seats"); running.add_arguments(parser)
    ...
    url = running.redis_url(args)          # raises NoHotline with what to do
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.settings import REPO, SettingsError, load

__all__ = ["NoHotline", "Running", "add_arguments", "database_url", "find_run", "locate", "redis_client",
           "redis_url"]


class NoHotline(RuntimeError):
    """No running hotline (or Redis) could be found; the message says what to do."""


@dataclass(frozen=True)
class Running:
    folder: Path
    info: dict[str, Any]

    @property
    def redis(self) -> str:
        url = self.info.get("redis") or ""
        if not url:
            raise NoHotline(f"{self.folder}/ready.json names no Redis")
        return str(url)


def add_arguments(parser: argparse.ArgumentParser, *, redis: bool = True) -> None:
    parser.add_argument("--run", type=Path, default=None,
                        help="run folder of the hotline (default: the latest `hotline up`, run/current)")
    if redis:
        parser.add_argument("--redis-url", default=None,
                            help="use this Redis instead of the running hotline's")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # alive, someone else's
        return True
    return True


def current_link(config: Path | None = None) -> Path:
    """RUN_ROOT/current, the latest `hotline up` (hotline.run_root in the settings; default run/)."""
    try:
        settings = load(config)
        return settings.path(settings.hotline.run_root) / "current"
    except SettingsError:
        return REPO / "run" / "current"


def find_run(run: Path | str | None = None, config: Path | None = None) -> Path:
    """The run folder of a live `hotline up` (``run``, else RUN_ROOT/current), resolved."""
    folder = Path(run) if run else current_link(config)
    ready = folder / "ready.json"
    if not ready.exists():
        raise NoHotline(f"no running hotline at {folder}: start one with scripts/up (or pass --run FOLDER)")
    try:
        pid = json.loads(ready.read_text()).get("pids", {}).get("controller")
    except (OSError, ValueError) as exc:
        raise NoHotline(f"{ready} cannot be read: {exc}") from None
    if not _alive(pid):
        raise NoHotline(f"the hotline in {folder.resolve()} is not running any more: start one with scripts/up")
    return folder.resolve()


def locate(args: argparse.Namespace) -> Running:
    folder = find_run(getattr(args, "run", None), getattr(args, "config", None))
    try:
        info = json.loads((folder / "ready.json").read_text())
    except (OSError, ValueError) as exc:
        raise NoHotline(f"{folder}/ready.json cannot be read: {exc}") from None
    return Running(folder, info)


def redis_url(args: argparse.Namespace) -> str:
    """--redis-url, else the running hotline's Redis (--run or run/current), else the settings'
    redis.url (--config); NoHotline naming all three when none is there."""
    explicit = getattr(args, "redis_url", None)
    if explicit:
        return str(explicit)
    try:
        return locate(args).redis
    except NoHotline as running_problem:
        if getattr(args, "run", None) is not None:      # asked for that hotline: say why not
            raise
        try:
            url = load(getattr(args, "config", None)).redis.client_url
        except SettingsError as exc:
            raise NoHotline(f"{running_problem}; and the settings cannot be read: {exc}") from None
        if url:
            return url
        raise NoHotline(f"{running_problem} (or pass --redis-url URL, or set redis.url in the settings)") from None


def database_url(args: argparse.Namespace) -> str | None:
    """The records database (PostgreSQL): --database-url, else the running hotline's (ready.json),
    else the settings' database.url; None when there is none (or it is switched off)."""
    explicit = getattr(args, "database_url", None)
    if explicit:
        return str(explicit)
    try:
        url = locate(args).info.get("database")
        if url:
            return str(url)
    except NoHotline:
        if getattr(args, "run", None) is not None:
            return None
    try:
        url = load(getattr(args, "config", None)).database.url
    except SettingsError:
        return None
    return url if url and url.strip().lower() != "none" else None


def redis_client(url: str) -> Any:
    """The Redis client the CLI commands use: the controller's (kernel/redis.py)."""
    from kernel.redis import redis_client as client

    return client(url)
