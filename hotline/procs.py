"""Private server processes (Redis, Asterisk) in a run folder on free ports.

Used by `hotline up` and by the test harness alike, so both start the real
services the same way.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class ProcessError(RuntimeError):
    """A private service failed to start or stop; carries its log tail."""

    def __init__(self, service: str, message: str, log_tail: str = "") -> None:
        super().__init__(f"{service}: {message}" + (f"\n--- log ---\n{log_tail}" if log_tail else ""))
        self.service = service
        self.log_tail = log_tail


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

    def start(self, env: dict[str, str] | None = None, user: str | None = None) -> None:
        """user: run as this OS user (root only; e.g. PostgreSQL refuses to run as root)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, user=user, group=user,
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


class RedisServer:
    """A private redis-server bound to 127.0.0.1 with its data in RUN/redis."""

    def __init__(self, run_dir: Path, port: int | None = None, appendonly: bool = True,
                 data_dir: Path | None = None) -> None:
        self.dir = Path(data_dir) if data_dir else Path(run_dir) / "redis"
        self.port = port or free_port()
        self.appendonly = appendonly
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = ManagedProcess(
            "redis",
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes" if appendonly else "no", "--save", "60 1",
             "--daemonize", "no", "--protected-mode", "yes", "--logfile", ""],
            Path(run_dir) / "log" / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
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
