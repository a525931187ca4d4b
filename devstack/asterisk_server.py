"""A private Asterisk: config rendered into a run folder, started in the
foreground (-f -n), stopped cleanly. Never touches /etc/asterisk.

Two installs are supported (`AsteriskInstall`): the system's (Debian's asterisk 16 package,
scripts/setup) and Asterisk 22 LTS in a minimal Debian sid root made by scripts/asterisk22.
The latter runs chrooted in a private mount namespace in which the folders the
configuration points at (the run folder, data, recordings, prompts, the controller's code
for the EAGI reader) are bind-mounted at the same paths, so the generated configuration,
the file paths in the dialplan and the AMI/FastAGI/AudioSocket ports are the same for both.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.procs import ManagedProcess, ProcessError, free_ports, tail, wait_port
from dialplan.publish import write_atomic
from dialplan.template import fill

TEMPLATES = Path(__file__).resolve().parent.parent / "asterisk-conf"


# Run inside the new mount namespace: bind each folder at its own path under the root, bind this
# machine's name files (a root without /etc/hosts sends every lookup of the host's own name to DNS:
# Asterisk 22 does one per call, and each timed-out lookup held a PJSIP thread 5 s, stalling INVITEs
# for 30 s at 300 calls), give the root a /proc, then become Asterisk.
# Arguments: root, count, folders..., asterisk args...
_IN_ROOT = ('set -e; r=$1; n=$2; shift 2; while [ "$n" -gt 0 ]; do mkdir -p "$r$1"; mount --bind "$1" "$r$1"; '
            'shift; n=$((n-1)); done; for f in /etc/hosts /etc/resolv.conf; do if [ -f "$f" ]; then '
            '[ -e "$r$f" ] || : > "$r$f"; mount --bind "$f" "$r$f"; fi; done; '
            'mount -t proc proc "$r/proc"; exec chroot "$r" /usr/sbin/asterisk "$@"')


@dataclass(frozen=True)
class AsteriskInstall:
    """Which Asterisk runs: the system's (root None) or the one in a root folder (scripts/asterisk22)."""

    root: Path | None = None
    binds: tuple[Path, ...] = ()      # host folders the configuration refers to (root installs only)

    @classmethod
    def from_root(cls, root: str | Path | None, binds: tuple[Path, ...] = ()) -> AsteriskInstall:
        if not root:
            return cls()
        path = Path(root)
        if not (path / "usr" / "sbin" / "asterisk").is_file():
            raise ProcessError("asterisk", f"asterisk.version 22: no Asterisk in {path} (asterisk.root); "
                               "run scripts/setup --asterisk 22", "")
        return cls(path.resolve(), _outermost(binds))

    def host_path(self, path: str) -> Path:
        """Where a path as Asterisk sees it lies on this machine."""
        return self.root / path.lstrip("/") if self.root else Path(path)

    def command(self, *args: str) -> list[str]:
        if self.root is None:
            return [shutil.which("asterisk") or "/usr/sbin/asterisk", *args]
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _IN_ROOT, "asterisk",
                str(self.root), str(len(self.binds)), *map(str, self.binds), *args]

    def first_dir(self, *candidates: str) -> str:
        for c in candidates:
            if self.host_path(c).is_dir():
                return c
        return candidates[0]

    def version(self) -> str:
        """`Asterisk 22.10.1...`: what `asterisk -V` prints ("" when it cannot run)."""
        try:
            res = subprocess.run(self.command("-V"), capture_output=True, text=True, timeout=20)
        except (subprocess.TimeoutExpired, OSError):
            return ""
        return res.stdout.strip() if res.returncode == 0 else ""


def _outermost(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    """The folders to bind: absolute, existing, none inside another (a bind covers its subfolders)."""
    folders = sorted({p.resolve() for p in paths if p.is_absolute() and p.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in folders:
        if p != Path("/") and not any(p.is_relative_to(k) for k in kept):
            kept.append(p)
    return tuple(sorted(kept))


def major_version(banner: str) -> int:
    """22 for `Asterisk 22.10.1+dfsg...`; 0 when unreadable."""
    parts = banner.split()
    if len(parts) < 2 or parts[0] != "Asterisk":
        return 0
    head = parts[1].split(".")[0]
    return int(head) if head.isdigit() else 0


@dataclass
class AsteriskPorts:
    ami: int
    sip: int
    rtp_start: int

    @classmethod
    def free(cls) -> AsteriskPorts:
        ami, sip = free_ports(2)
        # RTP ranges of side-by-side instances should not overlap much;
        # Asterisk skips ports in use anyway.
        base = 20000 + (sip % 40) * 1000
        return cls(ami=ami, sip=sip, rtp_start=base)


@dataclass
class AsteriskServer:
    run: Path
    ports: AsteriskPorts = field(default_factory=AsteriskPorts.free)
    ami_user: str = "hotline"
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    maxcalls: int = 2000
    log_full: str = "notice,warning,error"
    sip_bind: str = "127.0.0.1"
    rtp_ports: tuple[int, int] | None = None    # None: 1000 ports from ports.rtp_start (tests side by side)
    transport_extra: str = ""                   # NAT lines for the UDP transport (dialplan/trunks.py)
    install: AsteriskInstall = field(default_factory=AsteriskInstall)
    # the channels' unique ids start with it: distinct per node when several share one Redis (their calls'
    # ids must not collide)
    system_name: str = "hotline"
    process: ManagedProcess | None = None

    @property
    def etc(self) -> Path:
        return self.run / "etc" / "asterisk"

    @property
    def conf(self) -> Path:
        return self.etc / "asterisk.conf"

    def values(self) -> dict[str, object]:
        return {
            "run": self.run,
            "moddir": self.install.first_dir("/usr/lib/asterisk/modules",
                                             "/usr/lib/x86_64-linux-gnu/asterisk/modules"),
            "datadir": "/usr/share/asterisk",
            "moh_dir": self.install.first_dir("/usr/share/asterisk/moh", "/var/lib/asterisk/moh"),
            "maxcalls": self.maxcalls,
            "log_full": self.log_full,
            "ami_port": self.ports.ami,
            "ami_user": self.ami_user,
            "ami_secret": self.ami_secret,
            "sip_bind": self.sip_bind,
            "sip_port": self.ports.sip,
            "rtp_start": self.rtp_ports[0] if self.rtp_ports else self.ports.rtp_start,
            "rtp_end": self.rtp_ports[1] if self.rtp_ports else self.ports.rtp_start + 999,
            "transport_extra": self.transport_extra,
            "system_name": self.system_name if re.fullmatch(r"[a-z][a-z0-9-]{0,40}", self.system_name) else "hotline",
        }

    def render(self, generated: Mapping[str, str]) -> None:
        """Write the static templates and the generated files into RUN/etc/asterisk."""
        for sub in ("etc/asterisk", "lib", "agi-bin", "spool", "ctl", "log", "cache"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        values = self.values()
        for tpl in sorted(TEMPLATES.glob("*.conf")):
            write_atomic(self.etc / tpl.name, fill(tpl.read_text(encoding="utf-8"), values, tpl.name))
        for name, text in generated.items():
            write_atomic(self.etc / name, text)

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        self.process = ManagedProcess("asterisk", self.install.command("-C", str(self.conf), "-f", "-n", "-g"),
                                      self.run / "log" / "console.log")
        self.process.start(env=env)
        deadline = time.monotonic() + timeout
        if not wait_port("127.0.0.1", self.ports.ami, timeout):
            self.stop()
            raise ProcessError("asterisk", f"AMI not listening on {self.ports.ami}", self._log_tail())
        while time.monotonic() < deadline:
            out = self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
            if out is not None and "fully booted" in out.lower():
                return
            if not self.process.alive():
                break
            time.sleep(0.2)
        self.stop()
        raise ProcessError("asterisk", "did not finish booting", self._log_tail())

    def _log_tail(self) -> str:
        return tail(self.run / "log" / "console.log") + "\n" + tail(self.run / "log" / "messages")

    def cli(self, command: str, timeout: float = 10.0) -> str | None:
        """Run one CLI command over the control socket; None if Asterisk is not there."""
        try:
            res = subprocess.run(self.install.command("-C", str(self.conf), "-rx", command), capture_output=True,
                                 text=True, timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            return None
        return res.stdout if res.returncode == 0 else None

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process:
            return
        if self.process.alive():
            with contextlib.suppress(Exception):
                self.cli("core stop now", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.process.proc:
                    self.process.proc.wait(timeout)
        self.process.stop()
