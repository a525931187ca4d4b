"""A private Kamailio (the SIP edge, issue 16): kamailio.cfg, dispatcher.list and the permissions address
file rendered by dialplan/kamailio.py into a run folder (0600), started in the foreground (-DD -E) on a UDP
port of a loopback address, its ctl socket in the run folder, stopped by its own pid (process group).
Never touches /etc/kamailio or /run/kamailio.

``rpc(...)`` runs one RPC over the ctl socket (kamcmd): ``reload(edge)`` (new node lists at runtime),
``drain(node)`` / ``undrain(node)`` and
``states()`` (each node's dispatcher flags, e.g. ``AP`` active+probing, ``IP`` inactive, ``DX`` disabled)
and ``contacts()`` (the registrar's location: AoR -> contact URIs) are built on it.

With the seats' location in Redis (``edge.registrar.location``), ``start()`` first writes the version row
usrloc checks (from the schema file of Debian's kamailio-redis-modules, read where the package installed
it) into that Redis; the location rows themselves are Kamailio's.
"""
from __future__ import annotations

import glob
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devstack.procs import ManagedProcess, ProcessError, secret_file, tail
from dialplan.kamailio import (
                               LOCATION_TABLE,
                               REDIS_SCHEMA,
                               Edge,
                               EdgeFiles,
                               LocationStore,
                               Node,
                               drain_command,
                               location_version_row,
                               render_edge,
)
from dialplan.publish import write_atomic
from dialplan.trunks import Trunk

KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)
KAMCMD = shutil.which("kamcmd") or ("/usr/sbin/kamcmd" if Path("/usr/sbin/kamcmd").exists() else None)


def modules_dir() -> str:
    """Where Debian's kamailio package keeps its modules (an architecture folder)."""
    for d in sorted(glob.glob("/usr/lib/*/kamailio/modules")) + ["/usr/lib/kamailio/modules"]:
        if Path(d, "dispatcher.so").exists():
            return d
    raise ProcessError("kamailio", "no Kamailio modules found (scripts/setup installs Debian's kamailio)", "")


def version() -> str:
    """`5.6.3` (what `kamailio -v` says; "" when it cannot run)."""
    if KAMAILIO is None:
        return ""
    try:
        out = subprocess.run([KAMAILIO, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r"kamailio (\d+\.\d+\.\d+)", out)
    return m.group(1) if m else ""


@dataclass
class KamailioServer:
    run: Path
    edge: Edge
    trunks: tuple[Trunk, ...]
    seats: Mapping[str, tuple[str, str]] = field(default_factory=dict)   # id -> (username, secret): registrar
    mask_key: str = ""          # topology hiding's key; "" = the one kept (0600) in the run folder
    shm_mb: int = 64
    process: ManagedProcess | None = None

    def __post_init__(self) -> None:
        if not self.mask_key:
            # Kept across restarts: a restarted Kamailio must decode the headers the previous one masked
            # (the carriers' in-dialog requests of the calls in progress).
            self.etc.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.mask_key = secret_file(self.etc / "topoh.key")

    @property
    def etc(self) -> Path:
        return self.run / "etc"

    @property
    def cfg(self) -> Path:
        return self.etc / "kamailio.cfg"

    @property
    def ctl(self) -> Path:
        return self.run / "ctl" / "kamailio.ctl"

    @property
    def log(self) -> Path:
        return self.run / "log" / "kamailio.log"

    @property
    def address(self) -> tuple[str, int]:
        """Where carriers send (Kamailio's SIP address)."""
        return self.edge.listen, self.edge.port

    def files(self) -> EdgeFiles:
        return EdgeFiles(dispatcher_list=str(self.etc / "dispatcher.list"), address_list=str(self.etc / "address.list"),
                         ctl_socket=str(self.ctl), jsonrpc_fifo=str(self.run / "ctl" / "kamailio_rpc.fifo"),
                         modules=modules_dir())

    def render(self) -> None:
        """Write the three files (0600: the config holds the topology-hiding key)."""
        for sub in ("etc", "ctl", "log"):
            (self.run / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        conf = render_edge(self.edge, self.trunks, self.files(), self.mask_key, self.seats or None)
        write_atomic(self.cfg, conf.kamailio_cfg)
        write_atomic(self.etc / "dispatcher.list", conf.dispatcher_list)
        write_atomic(self.etc / "address.list", conf.address_list)

    def check(self) -> None:
        """`kamailio -c`: the rendered config parses and its modules load."""
        if KAMAILIO is None:
            raise ProcessError("kamailio", "kamailio is not installed (scripts/setup)", "")
        res = subprocess.run([KAMAILIO, "-c", "-f", str(self.cfg), "-Y", str(self.run / "ctl")], capture_output=True,
                             text=True, timeout=30)
        if res.returncode != 0 or "config file ok" not in res.stdout + res.stderr:
            raise ProcessError("kamailio", "the generated kamailio.cfg is refused", (res.stdout + res.stderr)[-3000:])

    def prepare_location(self) -> None:
        """With the location in Redis: db_redis's schema present and usrloc's version row in that Redis."""
        store = self.edge.registrar.location if self.edge.registrar else None
        if store is None:
            return
        schema = Path(REDIS_SCHEMA, LOCATION_TABLE)
        if not schema.exists():
            raise ProcessError("kamailio", f"no db_redis schema at {schema} (scripts/setup installs Debian's "
                               "kamailio-redis-modules)", "")
        key, row = location_version_row(schema.read_text())
        try:
            with location_redis(store) as client:
                client.hset(key, mapping=row)
        except redis.RedisError as exc:
            raise ProcessError("kamailio", f"the location store {store.host}:{store.port}/{store.db} is not "
                               f"usable: {type(exc).__name__}", "") from None

    def start(self, timeout: float = 30.0) -> None:
        if KAMAILIO is None or KAMCMD is None:
            raise ProcessError("kamailio", "kamailio/kamcmd are not installed (scripts/setup)", "")
        self.prepare_location()
        if len(str(self.ctl)) > 100:             # a unix socket's path is at most 107 bytes
            raise ProcessError("kamailio", f"run folder too deep for its ctl socket: {self.ctl}", "")
        self.render()
        self.process = ManagedProcess("kamailio", [KAMAILIO, "-f", str(self.cfg), "-DD", "-E", "-Y",
                                                   str(self.run / "ctl"), "-w", str(self.run), "-m", str(self.shm_mb),
                                                   "-M", "8"], self.log)
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                break
            if self.ctl.exists() and self.rpc("core.version", timeout=5) is not None:
                return
            time.sleep(0.1)
        self.stop()
        raise ProcessError("kamailio", "did not start (ctl socket not answering)", tail(self.log, 60))

    def rpc(self, *args: str, timeout: float = 10.0) -> str | None:
        """One RPC over the ctl socket (kamcmd); its output, None when Kamailio is not there or refuses it."""
        if KAMCMD is None:
            return None
        try:
            res = subprocess.run([KAMCMD, "-s", f"unix:{self.ctl}", *args], capture_output=True, text=True,
                                 timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            return None
        return res.stdout if res.returncode == 0 else None

    def reload(self, edge: Edge | None = None) -> None:
        """New settings at runtime (a node added, removed or drained in the settings): the lists are written
        again and re-read (dispatcher.reload, permissions.addressReload); kamailio.cfg itself is not.
        A reload keeps the state of the nodes it already had, so each node's drained setting is applied
        after it: the settings win over an earlier drain by RPC."""
        if edge is not None:
            self.edge = edge
        self.render()
        for command in ("dispatcher.reload", "permissions.addressReload"):
            if self.rpc(command) is None:
                raise ProcessError("kamailio", f"{command} failed", tail(self.log))
        states = self.states()
        for node in self.edge.nodes:
            disabled = states.get(node.uri, "").startswith("D")
            if node.drained and not disabled:
                self.drain(node)
            elif disabled and not node.drained:
                self.undrain(node)

    def drain(self, node: Node) -> None:
        """No new calls to this node (running calls finish: in-dialog requests follow the Record-Route)."""
        if self.rpc(*drain_command(node, True)) is None:
            raise ProcessError("kamailio", f"could not drain {node.name}", tail(self.log))

    def undrain(self, node: Node) -> None:
        """Back in service: active and probed again."""
        if self.rpc(*drain_command(node, False)) is None:
            raise ProcessError("kamailio", f"could not put {node.name} back in service", tail(self.log))

    def states(self) -> dict[str, str]:
        """Node URI -> dispatcher flags (A active, I inactive, D disabled, T trying; P probing)."""
        out = self.rpc("dispatcher.list") or ""
        return dict(re.findall(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)", out))

    def contacts(self) -> dict[str, list[str]]:
        """The registrar's location now (``ul.dump``): AoR -> its contact URIs."""
        out = self.rpc("ul.dump") or ""
        found: dict[str, list[str]] = {}
        aor = ""
        for line in out.splitlines():
            m = re.match(r"\s*AoR:\s*(\S+)", line)
            if m:
                aor = m.group(1)
                found.setdefault(aor, [])
                continue
            m = re.match(r"\s*Address:\s*(\S+)", line)
            if m and aor:
                found[aor].append(m.group(1))
        return found

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop, then start again on the same address and port with the same topology-hiding key (so the
        carriers' in-dialog requests, masked by the old process, are still understood)."""
        self.stop()
        self.start(timeout)


def location_redis(store: LocationStore) -> redis.Redis:
    """A client of the Redis holding the seats' location (the same database Kamailio writes)."""
    host = store.host.strip("[]")
    return redis.Redis(host=host, port=store.port, db=store.db, password=store.password or None,
                       socket_timeout=5, decode_responses=True)
