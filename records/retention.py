"""The retention job: recordings and personal data past their keeping time, deleted or anonymised,
and what it did written to the audit trail.

    report = await run_retention(conn, RetentionPolicy(recordings_days=365, personal_days=730),
                                 recordings_root=Path("data/recordings"), now=time.time())

- recordings: call recordings of calls older than `recordings_days` are deleted (only files inside
  `recordings_root`: a path in a record never leads anywhere else) and the record keeps when;
- personal data older than `personal_days`: tickets keep their content but lose the caller's number,
  name, call-back number and the transcript (masked as `hotline tickets export --mask` does);
  call records lose the caller's number (masked); Asterisk's CDR and CEL rows lose the caller id;
  the knowledge base's kept searches (pieces of callers' transcripts) are deleted;
  satisfaction callbacks (revisit_tasks) lose the number (masked) and the transcribed reason, leader
  calls the caller's number (the do-not-call list keeps its numbers).
Idempotent: what was done once is marked and not done again. One audit entry per run.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kernel.privacy import mask_number

log = logging.getLogger("records.retention")


@dataclass(frozen=True)
class RetentionPolicy:
    recordings_days: int = 365
    personal_days: int = 730


def _inside(path: str, root: Path) -> Path | None:
    try:
        p = Path(path).resolve()
        p.relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return p


async def run_retention(conn, policy: RetentionPolicy, *, recordings_root: Path, now: float) -> dict[str, Any]:
    from tickets.store import _masked

    at = datetime.fromtimestamp(now, UTC)
    rec_before = at - timedelta(days=policy.recordings_days)
    pii_before = at - timedelta(days=policy.personal_days)
    report: dict[str, Any] = {"recordings_deleted": 0, "recordings_refused": 0, "tickets_anonymised": 0,
                              "calls_anonymised": 0, "cdr_anonymised": 0, "cel_anonymised": 0,
                              "kb_searches_deleted": 0, "revisits_anonymised": 0,
                              "leader_calls_anonymised": 0}
    async with conn.transaction():
        for r in await conn.fetch("SELECT call_id, recording FROM call_records WHERE started_at < $1 "
                                  "AND recording IS NOT NULL AND recording_deleted_at IS NULL FOR UPDATE", rec_before):
            base = _inside(r["recording"], recordings_root)
            if base is None:
                report["recordings_refused"] += 1
                log.warning("retention: call %s names a recording outside %s; left alone", r["call_id"],
                            recordings_root)
                continue
            for f in base.parent.glob(base.stem + "*") if base.parent.is_dir() else ():
                if f.name == base.name or f.name.startswith(base.stem + "-"):      # the call's and its legs'
                    os.unlink(f)
            await conn.execute("UPDATE call_records SET recording = NULL, recording_deleted_at = $2, "
                               "data = data - 'recording' WHERE call_id = $1", r["call_id"], at)
            report["recordings_deleted"] += 1
        for r in await conn.fetch("SELECT id, doc FROM tickets WHERE received_at < $1 AND anonymised_at IS NULL "
                                  "FOR UPDATE", pii_before):
            doc = _masked(r["doc"])
            await conn.execute("UPDATE tickets SET doc = $2, caller = $3, anonymised_at = $4 WHERE id = $1",
                               r["id"], doc, doc.get("caller"), at)
            report["tickets_anonymised"] += 1
        for r in await conn.fetch("SELECT call_id, caller FROM call_records WHERE started_at < $1 "
                                  "AND anonymised_at IS NULL FOR UPDATE", pii_before):
            masked = mask_number(r["caller"]) if r["caller"] else None
            await conn.execute("UPDATE call_records SET caller = $2, anonymised_at = $3, "
                               "data = data - 'caller_name' - 'callback_number' - 'transcript' - 'transcript_finals' "
                               "- 'live_transcript' || jsonb_build_object('caller', $2::text) WHERE call_id = $1",
                               r["call_id"], masked, at)
            report["calls_anonymised"] += 1
        report["cdr_anonymised"] = int((await conn.execute(
            "UPDATE cdr SET src = '', clid = '' WHERE calldate < $1 AND (src <> '' OR clid <> '')",
            pii_before)).split()[-1])
        report["cel_anonymised"] = int((await conn.execute(
            "UPDATE cel SET cid_num = '', cid_name = '', cid_ani = '' WHERE eventtime < $1 "
            "AND (cid_num <> '' OR cid_name <> '' OR cid_ani <> '')", pii_before)).split()[-1])
        report["kb_searches_deleted"] = int((await conn.execute(
            "DELETE FROM kb_searches WHERE at < $1", pii_before)).split()[-1])
        # satisfaction callbacks and leader-answering calls: the number and the citizen's words go; the
        # do-not-call list keeps its numbers (that is what it is for)
        for r in await conn.fetch("SELECT ticket_id, number FROM revisit_tasks WHERE closed_at < $1 "
                                  "AND (transcript IS NOT NULL OR number NOT LIKE '%*%') FOR UPDATE", pii_before):
            await conn.execute("UPDATE revisit_tasks SET number = $2, transcript = NULL WHERE ticket_id = $1",
                               r["ticket_id"], mask_number(r["number"]) if r["number"] else None)
            report["revisits_anonymised"] += 1
        for r in await conn.fetch("SELECT call_id, caller FROM leader_calls WHERE answered_at < $1 "
                                  "AND caller NOT LIKE '%*%' FOR UPDATE", pii_before):
            await conn.execute("UPDATE leader_calls SET caller = $2 WHERE call_id = $1", r["call_id"],
                               mask_number(r["caller"]))
            report["leader_calls_anonymised"] += 1
        await conn.execute(
            "INSERT INTO audit_log (id, at, who, role, action, target, ip, details) "
            "VALUES ($1, $2, 'system', 'system', 'retention.run', 'records', '', $3)",
            f"retention:{uuid.uuid4().hex}", at,
            {**report, "recordings_before": rec_before.isoformat(), "personal_before": pii_before.isoformat()})
    log.info("retention: %s", json.dumps(report))
    return report
