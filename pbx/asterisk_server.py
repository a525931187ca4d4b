"""A private Asterisk: config rendered into a run folder, started in the
foreground (-f -n), stopped cleanly. Never touches /etc/asterisk.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialplan.publish import write_atomic
from dialplan.template import fill
from hotline.procs import ManagedProcess, ProcessError, free_ports, tail, wait_port

TEMPLATES = Path(__file__).resolve().parent.parent / "asterisk-conf"


def _first_dir(*candidates: str) -> str:
    for c in candidates:
        if Path(c).is_dir():
            return c
    return candidates[0]


@dataclass
class AsteriskPorts:
    ami: int
    sip: int
    rtp_start: int

    @classmethod
    def free(cls) -> "AsteriskPorts":
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
            "moddir": _first_dir("/usr/lib/asterisk/modules", "/usr/lib/x86_64-linux-gnu/asterisk/modules"),
            "datadir": "/usr/share/asterisk",
            "moh_dir": _first_dir("/usr/share/asterisk/moh", "/var/lib/asterisk/moh"),
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
        exe = shutil.which("asterisk") or "/usr/sbin/asterisk"
        env = dict(os.environ)
        self.process = ManagedProcess("asterisk", [exe, "-C", str(self.conf), "-f", "-n", "-g"],
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
        exe = shutil.which("asterisk") or "/usr/sbin/asterisk"
        try:
            res = subprocess.run([exe, "-C", str(self.conf), "-rx", command], capture_output=True,
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
