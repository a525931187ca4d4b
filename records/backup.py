"""`hotline db backup FILE` / `hotline db restore FILE`: pg_dump's custom format and pg_restore.

A backup is one file (0600: it holds personal data). A restore replaces the records database's
tables with the backup's in one transaction; the hotline's next start migrates it forward (or
refuses it when it comes from a newer version).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kernel.errors import DomainError
from records.pgbin import pg_bin


class BackupError(DomainError):
    error_id = "records.backup"


def backup(dsn: str, file: Path) -> int:
    """Dump the database to `file`; its size in bytes."""
    file = Path(file)
    tmp = file.with_name(f".{file.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    res = subprocess.run([pg_bin("pg_dump"), "--format=custom", "--no-password", f"--file={tmp}", f"--dbname={dsn}"],
                         capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {res.stderr.strip()[-1000:]}")
    os.chmod(tmp, 0o600)
    os.replace(tmp, file)
    return file.stat().st_size


def restore(dsn: str, file: Path) -> None:
    file = Path(file)
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    res = subprocess.run([pg_bin("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--no-password",
                          "--exit-on-error", f"--dbname={dsn}", str(file)],
                         capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        raise BackupError(f"pg_restore failed: {res.stderr.strip()[-1000:]}")
