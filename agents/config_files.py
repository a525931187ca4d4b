"""The admin-kept files of the routing side: seats and operators (with their skills)
and the external transfer numbers.

    files = AgentFiles(base_dir, seats_file, transfers_file)
    before, after = await files.save_seats(seats, operators, lanes)   # checked, then written

Every write is checked with the reader the controller uses (agents.config.parse_seats,
agents.transfer.parse_transfers) and written atomically, the previous content kept as
``.prev``; only the edited top-level blocks change (comments stay). Seats and operators
apply when the controller restarts; transfer numbers at once (the console's transfer
service reads the file again when it changes, agents.transfer.TransfersFile). Seat
secrets are never shown and are kept across a save. Refusals are
ivr.config_files.ConfigFileError (mapped by the web layer).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from agents.config import parse_seats
from agents.errors import ConfigInvalid
from agents.transfer import parse_transfers
from ivr.config_files import ConfigProblems, ConfigUnreadable, relative
from ivr.config_text import block, replace_blocks, write_atomic
from ivr.problems import Problem

TRANSFERS_HEADER = """\
# External transfer numbers shown on the operator console (kept by admins in the web page).
# targets: id, name (zh-CN label), number (dialled through transfer.dial), three_way
# (true: a three-way call, the operator stays on the line, e.g. 110/119/120/122).
"""


def seats_view(data: dict[str, Any]) -> dict[str, Any]:
    """{seats: [{id, name, username}], operators: [{id, name, skills}]} (no secrets)."""
    seats = [{k: str(v) for k, v in s.items() if k in ("id", "name", "username")}
             for s in data.get("seats") or [] if isinstance(s, dict)]
    ops = [{"id": str(o.get("id")), "name": str(o.get("name", "")),
            "skills": {str(k): v for k, v in (o.get("skills") or {}).items()}}
           for o in data.get("operators") or [] if isinstance(o, dict)]
    return {"seats": seats, "operators": ops}


def text_problem(p: Any) -> dict[str, str]:
    """A reader's "path: message" text problem as {path, message}."""
    if isinstance(p, Problem):
        return p.to_dict()
    path, sep, message = str(p).partition(": ")
    return {"path": path, "message": message} if sep and " " not in path else {"path": "", "message": str(p)}


class AgentFiles:
    """seats.yaml (seats and operators) and transfers.yaml (external transfer numbers)."""

    def __init__(self, base_dir: Path, seats_file: Path, transfers_file: Path | None = None) -> None:
        self.base = Path(base_dir).resolve()
        self.seats_path = Path(seats_file)
        self.transfers_path = Path(transfers_file) if transfers_file else self.base / "transfers.yaml"
        self.lock = asyncio.Lock()              # one writer of these files at a time (per process)

    def rel(self, path: Path) -> str:
        return relative(path, self.base)

    # -- seats and operators -------------------------------------------------------------
    def _read_seats(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.seats_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigUnreadable("seats", str(exc)) from None
        return data if isinstance(data, dict) else {}

    async def seats(self) -> dict[str, Any]:
        """The seats and operators as the admin sees them (seats_view)."""
        return seats_view(await asyncio.to_thread(self._read_seats))

    async def save_seats(self, seats: list[dict[str, Any]], operators: list[dict[str, Any]],
                         lanes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check (against the tree's `lanes` when there are any) and write; (before, after) views."""
        async with self.lock:
            old = await asyncio.to_thread(self._read_seats)
            secrets = {str(s.get("id")): s["secret"] for s in old.get("seats") or []
                       if isinstance(s, dict) and s.get("secret")}
            kept = [{**s, **({"secret": secrets[s["id"]]} if s["id"] in secrets else {})} for s in seats]
            ops = [{"id": o["id"], "name": o["name"], "skills": o.get("skills", {})} for o in operators]
            try:
                parse_seats({**old, "seats": kept, "operators": ops}, lanes or None, str(self.seats_path))
            except ConfigInvalid as exc:
                raise ConfigProblems(exc.problems) from None
            text = self.seats_path.read_text(encoding="utf-8")
            new_text = replace_blocks(text, {"seats": block("seats", kept), "operators": block("operators", ops)})
            await asyncio.to_thread(write_atomic, self.seats_path, new_text)
        return seats_view(old), await self.seats()

    # -- external transfer numbers -------------------------------------------------------
    def _read_transfers(self) -> dict[str, Any]:
        if not self.transfers_path.exists():
            return {}
        try:
            data = yaml.safe_load(self.transfers_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigUnreadable("transfers", str(exc)) from None
        return data if isinstance(data, dict) else {}

    def _read_targets(self) -> list[dict[str, Any]]:
        out = []
        for t in self._read_transfers().get("targets") or []:
            if isinstance(t, dict) and t.get("id") is not None:
                item = {"id": str(t["id"]), "name": str(t.get("name") or t.get("label") or t["id"]),
                        "number": str(t.get("number", "")), "three_way": bool(t.get("three_way", False))}
                if isinstance(t.get("modes"), list):
                    item["modes"] = [str(m) for m in t["modes"]]
                out.append(item)
        return out

    async def transfers(self) -> dict[str, Any]:
        """{targets, file, ring_s}."""
        data = await asyncio.to_thread(self._read_transfers)
        ring = data.get("ring_s")
        return {"targets": await asyncio.to_thread(self._read_targets), "file": self.rel(self.transfers_path),
                "ring_s": ring if isinstance(ring, int) else None}

    async def save_transfers(self, targets: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Check (the reader the console's transfers use) and write; (before, after) targets."""
        items = [{"id": t["id"], "name": t["name"], "number": t["number"], "three_way": bool(t.get("three_way", False)),
                  **({"modes": t["modes"]} if t.get("modes") else {})} for t in targets]
        async with self.lock:
            data = await asyncio.to_thread(self._read_transfers)
            try:
                parse_transfers({**data, "targets": items}, str(self.transfers_path))
            except ConfigInvalid as exc:
                raise ConfigProblems([text_problem(p) for p in exc.problems]) from None
            old = await asyncio.to_thread(self._read_targets)
            path = self.transfers_path
            text = path.read_text(encoding="utf-8") if path.exists() else TRANSFERS_HEADER
            await asyncio.to_thread(write_atomic, path, replace_blocks(text, {"targets": block("targets", items)}))
        return old, items
