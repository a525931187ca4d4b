"""A private Redis Sentinel group in a run folder: one master, its replicas and three sentinels
on free loopback ports (the tests' and a one-machine demo's stand-in for a site's Sentinel).

    group = SentinelGroup(run_dir)          # RUN/sentinel/{redis-0,redis-1,sentinel-0..2}
    group.start()                           # returns once every sentinel sees the master,
    url = group.url                         #   the replica and the other sentinels
    group.kill_master()                     # SIGKILL (the failover tests)
    group.wait_failover(old, timeout=15)    # the promoted replica's address
    group.stop()

Every server asks for the same password (kept 0600 as redis.secret in RUN/sentinel; the
sentinels take it too) and its settings are in a 0600 file, never on a command line. As in
devstack/procs.RedisServer, DEBUG, MODULE and MIGRATE are disabled; the commands a sentinel
needs to promote a replica and repoint the others (CONFIG, SLAVEOF/REPLICAOF) are renamed to
random names only the sentinels are told (`sentinel rename-command`), so a client of the product
still cannot call them. Replication (SYNC/PSYNC) needs the password like any other command.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import time
from pathlib import Path

from devstack.procs import REDIS_UMASK, ManagedProcess, free_ports, secret_file, tail, wait_port
from kernel.errors import ProcessError
from kernel.redis import SentinelTarget

MASTER_NAME = "hotline"
HOST = "127.0.0.1"
_DISABLED = ("DEBUG", "MODULE", "MIGRATE")
_FOR_SENTINELS = ("CONFIG", "SLAVEOF", "REPLICAOF")     # renamed; the sentinels know the names


def _write_private(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")


class SentinelGroup:
    """One master, `replicas` replicas and `sentinels` sentinels (quorum: a majority).

    down_after_ms: how long a master stays silent before a sentinel thinks it down (Sentinel's
    own default is 30 s; 1 s here so that a failover takes about 2 s). failover_timeout_ms: how
    long a failed failover attempt blocks the next one.
    """

    def __init__(self, run_dir: Path, *, master: str = MASTER_NAME, replicas: int = 1, sentinels: int = 3,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 3000) -> None:
        self.dir = Path(run_dir) / "sentinel"
        self.log_dir = Path(run_dir) / "log"
        self.master = master
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        ports = free_ports(1 + replicas + sentinels)
        self.data_ports = ports[:1 + replicas]
        self.sentinel_ports = ports[1 + replicas:]
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        self.password = secret_file(self.dir / "redis.secret")
        self.renamed = {name: f"{name}-{secrets.token_hex(12)}" for name in _FOR_SENTINELS}
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        sentinel = shutil.which("redis-sentinel")     # Debian's redis-sentinel; else the server's --sentinel
        self.data = [ManagedProcess(f"redis-{i}", [server, str(self.dir / f"redis-{i}.conf")],
                                    self.log_dir / f"redis-{i}.log", umask=REDIS_UMASK)
                     for i in range(len(self.data_ports))]
        self.sentinels = [ManagedProcess(f"sentinel-{i}", [sentinel, str(self.dir / f"sentinel-{i}.conf")]
                                         if sentinel else [server, str(self.dir / f"sentinel-{i}.conf"), "--sentinel"],
                                         self.log_dir / f"sentinel-{i}.log", umask=REDIS_UMASK)
                          for i in range(sentinels)]

    @property
    def target(self) -> SentinelTarget:
        return SentinelTarget(tuple((HOST, p) for p in self.sentinel_ports), self.master, self.password,
                              self.password)

    @property
    def url(self) -> str:
        """redis+sentinel://… for kernel.redis.redis_client (and the settings' redis.url)."""
        return self.target.url

    @property
    def settings(self) -> dict[str, object]:
        """The `redis:` settings section that points a hotline at this group."""
        return {"url": "", "sentinels": [f"{HOST}:{p}" for p in self.sentinel_ports], "master": self.master,
                "password": self.password, "sentinel_password": self.password}

    # ------------------------------------------------------------ config files

    def _data_conf(self, i: int) -> None:
        folder = self.dir / f"redis-{i}"
        folder.mkdir(exist_ok=True, mode=0o700)
        lines = [f"port {self.data_ports[i]}", f"bind {HOST}", f'dir "{folder}"', "appendonly yes",
                 'save "60 1"', "daemonize no", "protected-mode yes", 'logfile ""',
                 f"requirepass {self.password}", f"masterauth {self.password}",
                 # a replica promoted under load answers at once; it serves reads meanwhile
                 "replica-serve-stale-data yes", "repl-diskless-sync no"]
        if i > 0:
            lines.append(f"replicaof {HOST} {self.data_ports[0]}")
        lines += [f'rename-command {name} ""' for name in _DISABLED]
        lines += [f"rename-command {name} {new}" for name, new in self.renamed.items()]
        _write_private(self.dir / f"redis-{i}.conf", lines)

    def _sentinel_conf(self, i: int) -> None:
        folder = self.dir / f"sentinel-{i}"
        folder.mkdir(exist_ok=True, mode=0o700)
        m = self.master
        lines = [f"port {self.sentinel_ports[i]}", f"bind {HOST}", f'dir "{folder}"', "daemonize no",
                 'logfile ""', f"requirepass {self.password}", f"sentinel sentinel-pass {self.password}",
                 f"sentinel monitor {m} {HOST} {self.data_ports[0]} {len(self.sentinels) // 2 + 1}",
                 f"sentinel auth-pass {m} {self.password}",
                 f"sentinel down-after-milliseconds {m} {self.down_after_ms}",
                 f"sentinel failover-timeout {m} {self.failover_timeout_ms}",
                 f"sentinel parallel-syncs {m} 1"]
        lines += [f"sentinel rename-command {m} {name} {new}" for name, new in self.renamed.items()]
        _write_private(self.dir / f"sentinel-{i}.conf", lines)     # the sentinel rewrites it: its state

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> None:
        """Start everything; returns when the sentinels agree on the master and know the replicas
        and each other (before that a failover could not happen)."""
        deadline = time.monotonic() + timeout
        for i, proc in enumerate(self.data):
            self._data_conf(i)
            proc.start()
        try:
            self._listening(zip(self.data, self.data_ports), deadline)
            # The replicas in sync first: a sentinel that finds a replica still syncing asks it
            # again only at its next INFO, 10 s later.
            self._wait(self._synced, deadline, "the replicas to sync with the master")
            for i, proc in enumerate(self.sentinels):
                self._sentinel_conf(i)
                proc.start()
            self._listening(zip(self.sentinels, self.sentinel_ports), deadline)
            self._wait(self._ready, deadline, "the sentinels to see the master, the replicas and each other")
        except ProcessError:
            self.stop()
            raise

    def _listening(self, procs, deadline: float) -> None:
        for proc, port in procs:
            if not wait_port(HOST, port, max(0.1, deadline - time.monotonic())):
                raise ProcessError(proc.name, f"not listening on port {port}", tail(proc.log))

    def _synced(self) -> bool:
        import redis

        for port in self.data_ports[1:]:
            with contextlib.closing(redis.Redis(host=HOST, port=port, password=self.password, socket_timeout=2,
                                                decode_responses=True)) as r:
                if r.info("replication").get("master_link_status") != "up":
                    return False
        return True

    def _wait(self, check, deadline: float, what: str):
        last: object = None
        while time.monotonic() < deadline:
            try:
                got = check()
                if got:
                    return got
            except Exception as exc:         # not up yet: asked again
                last = exc
            time.sleep(0.1)
        logs = "\n".join(f"--- {p.name}\n{tail(p.log, 15)}" for p in [*self.data, *self.sentinels])
        raise ProcessError("redis-sentinel", f"timed out waiting for {what} (last: {last!r})", logs)

    def _sentinel(self, i: int):
        import redis

        return redis.Redis(host=HOST, port=self.sentinel_ports[i], password=self.password,
                           socket_timeout=2, decode_responses=True)

    def _ready(self) -> bool:
        want_replicas, want_others = len(self.data) - 1, len(self.sentinels) - 1
        for i in range(len(self.sentinels)):
            with contextlib.closing(self._sentinel(i)) as s:
                state = s.sentinel_master(self.master)
                if (state["port"] != self.data_ports[0] or state["num-slaves"] < want_replicas
                        or state["num-other-sentinels"] < want_others):
                    return False
                replicas = s.sentinel_slaves(self.master)
                if sum(1 for r in replicas if r.get("master-link-status") == "ok"
                       and not r.get("is_sdown")) < want_replicas:
                    return False
        return True

    def master_address(self) -> tuple[str, int]:
        """The master the sentinels name now (asked of the first one that answers)."""
        problems = []
        for i in range(len(self.sentinels)):
            try:
                with contextlib.closing(self._sentinel(i)) as s:
                    host, port = s.sentinel_get_master_addr_by_name(self.master)
                    return str(host), int(port)
            except Exception as exc:
                problems.append(repr(exc))
        raise ProcessError("redis-sentinel", "no sentinel names a master", "\n".join(problems))

    def process_at(self, port: int) -> ManagedProcess:
        return self.data[self.data_ports.index(port)]

    def kill_master(self) -> tuple[str, int]:
        """SIGKILL the current master (no shutdown, no last save); its address."""
        address = self.master_address()
        proc = self.process_at(address[1])
        assert proc.proc is not None
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(10)
        return address

    def wait_failover(self, old: tuple[str, int], timeout: float = 20.0) -> tuple[str, int]:
        """The new master's address, once every sentinel names one other than `old` and it
        answers as a master."""
        import redis

        def promoted() -> tuple[str, int] | None:
            named = set()
            for i, proc in enumerate(self.sentinels):
                if not proc.alive():
                    continue
                with contextlib.closing(self._sentinel(i)) as s:
                    host, port = s.sentinel_get_master_addr_by_name(self.master)
                    named.add((str(host), int(port)))
            if len(named) != 1 or old in named:
                return None
            address = named.pop()
            with contextlib.closing(redis.Redis(host=address[0], port=address[1], password=self.password,
                                                socket_timeout=2, decode_responses=True)) as r:
                return address if r.info("replication")["role"] == "master" else None

        return self._wait(promoted, time.monotonic() + timeout, f"a master other than {old}")

    def stop(self) -> None:
        for proc in [*self.sentinels, *self.data]:
            proc.stop()
