"""Paths that must stay inside a folder (admins' trees, uploads, config files)."""
from __future__ import annotations

from pathlib import Path


class OutsideRoot(ValueError):
    """A tree's file path that is absolute or, once resolved (symlinks too), leaves the config folder."""


def resolve_path(base_dir: Path, file: str) -> Path:
    """``file`` inside ``base_dir``; OutsideRoot for an absolute path, ``..`` out of the folder,
    a symlink pointing out of it, or a NUL byte. Trees name files relative to their config folder
    only: an admin's tree must never make the validator (or a call) read ``/etc/passwd``,
    ``../data/seat-secrets.json`` or the run folder's ``manager.conf``."""
    text = str(file)
    if not text or "\x00" in text or Path(text).is_absolute() or text.startswith("~"):
        raise OutsideRoot(text)
    root = Path(base_dir).resolve()
    p = (root / text).resolve()
    if p != root and root not in p.parents:
        raise OutsideRoot(text)
    return p
