"""The durable local queue of records on their way to PostgreSQL: SQLite (WAL) in the data folder.

    spool = Spool(path, max_rows=1_000_000)
    spool.put("call", call_id, {"status": "queued"})    # never raises: a full or broken spool is logged
    rows = spool.peek(500)                              # oldest first: [(seq, kind, key, payload), ...]
    spool.done(rows[-1][0])                             # everything up to seq was written

One writer per controller process (an exclusive lock file beside the spool). `put` is a few tens
of microseconds (synchronous=NORMAL: a record survives the process dying; FULL, for surviving
the machine losing power, fsyncs every record). Bounded: past `max_rows` new records are refused,
counted in `dropped` and logged once per overflow.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("records.spool")


class Spool:
    def __init__(self, path: Path, max_rows: int = 1_000_000, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.dropped = 0
        self._overflowing = False
        self._lock = threading.Lock()
        fresh = not self.path.exists()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self.db.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                        " kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, at REAL NOT NULL)")
        self._count = self.db.execute("SELECT count(*) FROM spool").fetchone()[0]

    def __len__(self) -> int:
        return self._count

    def put(self, kind: str, key: str, payload: dict[str, Any]) -> bool:
        """Queue one record; False when refused (spool full or not writable), which is logged."""
        with self._lock:
            if self._count >= self.max_rows:
                self.dropped += 1
                if not self._overflowing:
                    log.error("records spool full (%d waiting for PostgreSQL): new records are dropped "
                              "until it drains", self._count)
                    self._overflowing = True
                return False
            try:
                self.db.execute("INSERT INTO spool (kind, key, payload, at) VALUES (?, ?, ?, ?)",
                                (kind, key, json.dumps(payload, ensure_ascii=False, default=str), time.time()))
            except sqlite3.Error as exc:
                self.dropped += 1
                log.error("records spool %s: %s: a %s record is lost", self.path, exc, kind)
                return False
            self._count += 1
            return True

    def peek(self, limit: int) -> list[tuple[int, str, str, dict[str, Any]]]:
        with self._lock:
            rows = self.db.execute("SELECT seq, kind, key, payload FROM spool ORDER BY seq LIMIT ?",
                                   (limit,)).fetchall()
        return [(seq, kind, key, json.loads(payload)) for seq, kind, key, payload in rows]

    def done(self, upto_seq: int) -> None:
        with self._lock:
            self.db.execute("DELETE FROM spool WHERE seq <= ?", (upto_seq,))
            self._count = self.db.execute("SELECT count(*) FROM spool").fetchone()[0]
            if self._overflowing and self._count < self.max_rows:
                log.warning("records spool has room again (%d waiting); %d record(s) were dropped",
                            self._count, self.dropped)
                self._overflowing = False

    def close(self) -> None:
        with self._lock:
            self.db.close()
