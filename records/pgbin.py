"""Where this machine keeps a PostgreSQL program (pg_dump for backups, initdb for the private cluster)."""
from __future__ import annotations

import shutil
from pathlib import Path

from kernel.errors import ProcessError


def pg_bin(name: str) -> str:
    """A PostgreSQL program: Debian keeps them in /usr/lib/postgresql/N/bin (newest N first)."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                    if p.parent.name.isdigit() else 0, reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found:
        return found
    raise ProcessError("postgres", f"{name} not found: install Debian's postgresql (scripts/setup does)")
