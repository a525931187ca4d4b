"""Atomic publish of generated Asterisk config files, keeping the last good set.

Rendering happens before anything is written: if it raises, the files on disk
(the last good output) stay as they are and the error is returned to the
caller. Each file is written to a temporary name and renamed into place, so
Asterisk never reads half a file.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from kernel.errors import HotlineError


class PublishError(HotlineError, RuntimeError):
    error_id = "dialplan.publish"

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(detail, text=f"dialplan publish failed at {stage}: {detail}")
        self.stage = stage
        self.detail = detail


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def publish(etc_dir: Path, render: Callable[[], Mapping[str, str]]) -> dict[str, str]:
    """Render all files first, then write each atomically; return what was written.

    The previous version of each file is kept as NAME.last-good.
    """
    try:
        files = dict(render())
    except Exception as exc:  # rendering bug or bad input: keep the last good config
        raise PublishError("render", f"{type(exc).__name__}: {exc}") from exc
    for name, text in files.items():
        target = etc_dir / name
        if target.exists():
            write_atomic(etc_dir / f"{name}.last-good", target.read_text(encoding="utf-8"))
        write_atomic(target, text)
    return files
