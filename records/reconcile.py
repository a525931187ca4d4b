"""`hotline calls reconcile --day D`: the day's call records against Asterisk's CDR rows.

A call record's CDR rows are those of its channel (uniqueid = call id) and of every channel
linked to it (same linkedid). Reported: calls without any CDR row, calls a seat answered whose
CDR shows no answered bridge to another channel (and the reverse), and CDR rows of the day on
channels that reached the controller but have no call record.
"""
from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from records.store import day_bounds

_PER_CALL = """
WITH calls AS (
    SELECT call_id, seat, status, (data ? 'answered' AND coalesce(data->>'answered', '') <> '') AS answered
    FROM call_records WHERE day = $1
), linked AS (
    SELECT c.call_id, coalesce((SELECT d.linkedid FROM cdr d WHERE d.uniqueid = c.call_id LIMIT 1),
                               (SELECT e.linkedid FROM cel e WHERE e.uniqueid = c.call_id LIMIT 1)) AS linkedid
    FROM calls c
)
SELECT c.call_id, c.seat, c.status, c.answered, l.linkedid,
       (SELECT count(*) FROM cdr d WHERE d.uniqueid = c.call_id OR d.linkedid = l.linkedid) AS cdr_rows,
       (SELECT count(*) FROM cdr d WHERE (d.uniqueid = c.call_id OR d.linkedid = l.linkedid)
            AND d.disposition = 'ANSWERED' AND d.dstchannel <> '' AND d.billsec > 0) AS cdr_answered
FROM calls c JOIN linked l USING (call_id) ORDER BY c.call_id
"""

_ORPHANS = """
SELECT d.uniqueid, d.linkedid, d.calldate, d.disposition FROM cdr d
WHERE d.calldate >= $1 AND d.calldate < $2
  AND EXISTS (SELECT 1 FROM cel e WHERE e.uniqueid = d.uniqueid AND e.eventtype = 'APP_START' AND e.appname = 'AGI')
  AND NOT EXISTS (SELECT 1 FROM call_records c WHERE c.call_id = d.uniqueid)
ORDER BY d.calldate
"""


async def reconcile(conn, day: date, tz: ZoneInfo) -> dict[str, Any]:
    rows = await conn.fetch(_PER_CALL, day)
    start, end = day_bounds(day, tz)
    total_cdr = await conn.fetchval("SELECT count(*) FROM cdr WHERE calldate >= $1 AND calldate < $2", start, end)
    orphans = await conn.fetch(_ORPHANS, start, end)
    no_cdr = [r["call_id"] for r in rows if r["cdr_rows"] == 0]
    answered_no_cdr = [r["call_id"] for r in rows if r["answered"] and r["cdr_rows"] and not r["cdr_answered"]]
    cdr_only = [r["call_id"] for r in rows if r["cdr_answered"] and not r["answered"]]
    report = {
        "day": day.isoformat(),
        "calls": len(rows),
        "answered": sum(1 for r in rows if r["answered"]),
        "cdr_rows": int(total_cdr),
        "cdr_answered_calls": sum(1 for r in rows if r["cdr_answered"]),
        "calls_without_cdr": no_cdr,
        "answered_without_cdr_answer": answered_no_cdr,
        "cdr_answer_without_answered_call": cdr_only,
        "cdr_without_call": [r["uniqueid"] for r in orphans],
    }
    report["ok"] = not (no_cdr or answered_no_cdr or cdr_only or report["cdr_without_call"])
    return report
