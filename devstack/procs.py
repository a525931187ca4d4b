"""Private server processes (Redis, Asterisk) in a run folder on free ports.

Used by `hotline up` and by the test harness alike, so both start the real
services the same way.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from kernel.errors import ProcessError  # raised by every private service here
from kernel.redis import redact_url  # noqa: F401  (one for both URL forms; kept here for its callers)

# Files the product creates are never world-readable: 0640 at most (group: the site's
# admins), 0600 where the code asks for it. Set once by `hotline` at start (every command)
# and given to the services it starts; Redis (password hashes, tickets) gets 0077.
PRIVATE_UMASK = 0o027
REDIS_UMASK = 0o077


def set_private_umask() -> int:
    """Apply PRIVATE_UMASK to this process (it can only tighten the caller's); the old one."""
    old = os.umask(PRIVATE_UMASK)
    os.umask(old | PRIVATE_UMASK)
    return old


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free now for TCP (or UDP with kind=SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct ports free for both TCP and UDP."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port(host)
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, p))
            if p not in ports:
                ports.append(p)
    return ports


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class ManagedProcess:
    """A child process we started; stopped with SIGTERM, then SIGKILL."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)
    umask: int = PRIVATE_UMASK        # for every file the service creates (recordings, dumps, logs)

    def start(self, env: dict[str, str] | None = None, user: str | None = None) -> None:
        """user: run as this OS user (root only; e.g. PostgreSQL refuses to run as root)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        out = os.fdopen(fd, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, umask=self.umask, user=user, group=user,
            )
        finally:
            out.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.proc:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # Anything the service left in its process group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


# Commands a client of the product never needs and an intruder wants: CONFIG (rewrite the
# dump folder and file name: write files anywhere), DEBUG, MODULE (load code), replication
# (copy the data to or from another server). Renamed to "" = disabled.
REDIS_DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "REPLICAOF", "SLAVEOF", "SYNC", "PSYNC", "MIGRATE")
REDIS_SECRET_FILE = "redis.secret"


def secret_file(path: Path) -> str:
    """The secret kept (0600) in `path`; generated on first use. Rotate it by deleting the
    file and restarting the hotline (SECURITY.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = path.read_text().strip()
        if text:
            os.chmod(path, 0o600)
            return text
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


def redis_password(folder: Path) -> str:
    """The Redis password kept (0600) in `folder` (its data folder) as redis.secret."""
    return secret_file(folder / REDIS_SECRET_FILE)


def redis_url(host: str, port: int, password: str | None, db: int = 0) -> str:
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


class RedisServer:
    """A private redis-server bound to 127.0.0.1 with its data in RUN/redis.

    It asks for a password (`requirepass`, kept 0600 in the data folder as `redis.secret`,
    part of `url`), has CONFIG/DEBUG/MODULE and replication disabled, and creates its dump
    and AOF files 0600 in a 0700 folder. The settings go in a 0600 redis.conf there, never
    on the command line (which every local user can read in `ps`).
    """

    def __init__(self, run_dir: Path, port: int | None = None, appendonly: bool = True,
                 data_dir: Path | None = None) -> None:
        self.dir = Path(data_dir) if data_dir else Path(run_dir) / "redis"
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = redis_password(self.dir)
        self.conf = self.dir / "redis.conf"
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = ManagedProcess("redis", [exe, str(self.conf)], Path(run_dir) / "log" / "redis.log",
                                      umask=REDIS_UMASK)

    @property
    def url(self) -> str:
        return redis_url("127.0.0.1", self.port, self.password)

    def _write_conf(self) -> None:
        lines = [f"port {self.port}", "bind 127.0.0.1", f'dir "{self.dir}"',
                 f"appendonly {'yes' if self.appendonly else 'no'}", 'save "60 1"', "daemonize no",
                 "protected-mode yes", 'logfile ""', f"requirepass {self.password}"]
        lines += [f'rename-command {name} ""' for name in REDIS_DISABLED_COMMANDS]
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def _tighten(self) -> None:
        """Files an older run left world-readable (dump.rdb, appendonly.aof...) become 0600."""
        os.chmod(self.dir, 0o700)
        for p in self.dir.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_symlink():
                    continue
                os.chmod(p, 0o700 if p.is_dir() else 0o600)

    def start(self, timeout: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._tighten()
        self._write_conf()
        self.process.start()
        if not wait_port("127.0.0.1", self.port, timeout):
            self.process.stop()
            raise ProcessError("redis", f"not listening on port {self.port}", tail(self.process.log))

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()


def try_lock(path: Path):
    """An exclusive advisory lock on `path` (an open file), or None if another process holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh
