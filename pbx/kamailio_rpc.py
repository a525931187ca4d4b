"""Kamailio's RPC as the controller uses it (issue 16): which seat phones are registered at the edge.

Kamailio is the seats' registrar when ``edge.registrar`` is on; its location table (usrloc) is read over
its ctl socket with ``kamcmd`` (``ul.dump brief``: the AoRs, i.e. the usernames, registered now). The
socket is a local unix socket in Kamailio's run folder, so this runs on the edge machine or beside it.
"""
from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

UL_DUMP = ("ul.dump", "brief")
_AOR = re.compile(r"^\s*AoR:\s*(\S+)\s*$", re.M)
_DUMP = re.compile(r"^\s*Domains:\s*\{", re.M)


def location_users(text: str) -> set[str] | None:
    """The usernames registered in `ul.dump brief`'s output; None when it is not such an output."""
    if not _DUMP.search(text):
        return None
    return set(_AOR.findall(text))


class EdgeLocation:
    """Asks Kamailio which usernames are registered (its ctl socket, through kamcmd)."""

    def __init__(self, ctl_socket: Path, kamcmd: str | None = None, timeout_s: float = 5.0) -> None:
        self.ctl = Path(ctl_socket)
        self.kamcmd = kamcmd or shutil.which("kamcmd") or "/usr/sbin/kamcmd"
        self.timeout_s = timeout_s

    async def registered(self) -> set[str] | None:
        """The registered usernames; None when Kamailio did not answer (nothing is concluded then)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.kamcmd, "-s", f"unix:{self.ctl}", *UL_DUMP, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            return None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        if proc.returncode != 0:
            return None
        return location_users(out.decode(errors="replace"))
