"""Per-seat SIP secrets: from the config when given, else generated once and
kept in the data folder (mode 0600), so softphones keep working across runs."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from agents.config import SeatsConfig


def seat_credentials(config: SeatsConfig, data_dir: Path) -> dict[str, tuple[str, str]]:
    path = Path(data_dir) / "seat-secrets.json"
    kept: dict[str, str] = {}
    if path.exists():
        kept = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    out = {}
    for seat_id, seat in config.seats.items():
        secret = seat.secret or kept.get(seat_id)
        if not secret:
            secret = secrets.token_urlsafe(18)
            kept[seat_id] = secret
            changed = True
        out[seat_id] = (seat.username, secret)
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(kept, fh, ensure_ascii=False, indent=1)
        os.replace(path.with_suffix(".tmp"), path)
    return out
