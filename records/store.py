"""The SQL of the records: writing a batch from the spool in one transaction, and the reads that
must survive a Redis loss (tickets, call records with their CDR and CEL, the audit trail).

Every write is idempotent, so a batch written twice (the spool lost its "done" in a crash) changes
nothing the second time: tickets keep the newest snapshot by version, call patches merge, audit
and seat rows are keyed by their own id.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import IO, Any
from zoneinfo import ZoneInfo

from records.model import call_columns, correction_rows, merge_call, outbox_state, ticket_columns

Row = tuple[int, str, str, dict[str, Any]]       # spool: seq, kind, key, payload

_TICKET_COLS = ("id", "call_id", "status", "caller", "received_at", "day", "seat", "confirmed_at",
                "confirmed_by", "confidential", "appeal_type", "category", "district", "doc", "version")
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(_TICKET_COLS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_TICKET_COLS) + 1))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _TICKET_COLS[1:])
    + ", written_at = now() WHERE tickets.version <= EXCLUDED.version RETURNING id")
_CALL_COLS = ("caller", "did", "started_at", "day", "ended_at", "answered_at", "status", "lane", "seat", "wait_s", "end_reason",
              "rating", "recording", "ticket_id", "path", "transfers")
_UPSERT_CALL = (
    f"INSERT INTO call_records (call_id, {', '.join(_CALL_COLS)}, data) "
    f"VALUES ($1, {', '.join(f'${i}' for i in range(2, len(_CALL_COLS) + 2))}, ${len(_CALL_COLS) + 2}) "
    "ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_CALL_COLS, "data")) + ", written_at = now()")


async def init_connection(conn) -> None:
    """jsonb in and out as Python objects."""
    await conn.set_type_codec("jsonb", encoder=lambda v: json.dumps(v, ensure_ascii=False, default=str),
                              decoder=json.loads, schema="pg_catalog")


async def write_batch(conn, rows: Iterable[Row], tz: ZoneInfo) -> None:
    """Write spool rows (oldest first) in one transaction."""
    rows = list(rows)
    async with conn.transaction():
        calls = [r for r in rows if r[1] == "call"]
        if calls:
            await _write_calls(conn, calls, tz)
        for _, kind, _, p in rows:
            if kind == "ticket":
                await _write_ticket(conn, p)
        audit = [r[3] for r in rows if r[1] == "audit"]
        if audit:
            await conn.executemany(
                "INSERT INTO audit_log (id, at, who, role, action, target, ip, details) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                [(a["id"], datetime.fromtimestamp(float(a["ts"]), timezone.utc), a["who"], a["role"], a["action"],
                  a["target"], a["ip"], a.get("details") or {}) for a in audit])
        seats = [r[3] for r in rows if r[1] == "seat"]
        if seats:
            await conn.executemany(
                "INSERT INTO seat_history (id, at, seat, operator, event, state, reason, node) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                [(s["id"], datetime.fromtimestamp(float(s["at"]), timezone.utc), s["seat"], s.get("operator"),
                  s["event"], s.get("state"), s.get("reason"), s.get("node")) for s in seats])


async def _write_calls(conn, rows: list[Row], tz: ZoneInfo) -> None:
    ids = sorted({key for _, _, key, _ in rows})
    existing = {r["call_id"]: r["data"] for r in await conn.fetch(
        "SELECT call_id, data FROM call_records WHERE call_id = ANY($1::text[]) FOR UPDATE", ids)}
    merged: dict[str, dict] = {}
    for _, _, key, patch in rows:
        merged[key] = merge_call(merged.get(key, existing.get(key)), patch)
    args = []
    for call_id, data in merged.items():
        cols = call_columns(data, tz)
        args.append((call_id, *(cols[c] for c in _CALL_COLS), data))
    await conn.executemany(_UPSERT_CALL, args)


async def _write_ticket(conn, p: Mapping[str, Any]) -> None:
    cols = ticket_columns(p)
    written = await conn.fetchval(_UPSERT_TICKET, *(cols[c] for c in _TICKET_COLS))
    if written is None:                      # an older snapshot than the one kept
        return
    doc = p["doc"]
    corr = correction_rows(p)
    if corr:
        await conn.executemany(
            "INSERT INTO ticket_corrections (ticket_id, field, draft_value, confirmed_value, operator, at) "
            "VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, $5, $6) ON CONFLICT DO NOTHING", corr)
    state = outbox_state(doc["status"])
    if state is not None and p.get("work_order") is not None:
        handoff = doc.get("handoff") or {}
        await conn.execute(
            "INSERT INTO handoff_outbox (ticket_id, work_order, queued_at, state, attempts, delivered_at, last_error) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ticket_id) DO UPDATE SET state = EXCLUDED.state, "
            "attempts = EXCLUDED.attempts, delivered_at = EXCLUDED.delivered_at, last_error = EXCLUDED.last_error",
            doc["id"], p["work_order"], cols["confirmed_at"] or cols["received_at"], state,
            int(handoff.get("attempts") or 0),
            datetime.fromisoformat(handoff["handed_off_at"]) if handoff.get("handed_off_at") else None,
            handoff.get("last_error"))


# -- reads -------------------------------------------------------------------------------------
async def tickets_between(conn, first: date, last: date) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT doc FROM tickets WHERE day BETWEEN $1 AND $2 ORDER BY received_at, id",
                            first, last)
    return [r["doc"] for r in rows]


async def export_tickets(conn, out: IO[str], first: date, last: date, *, mask: bool = False,
                         reveal_confidential: bool = False, after: float | None = None) -> int:
    """Tickets as JSON Lines, as `TicketStore.export_jsonl` writes them, read from PostgreSQL."""
    from tickets.store import _masked

    sql = "SELECT doc, confidential FROM tickets WHERE day BETWEEN $1 AND $2"
    args: list[Any] = [first, last]
    if after is not None:
        sql += " AND received_at >= $3"
        args.append(datetime.fromtimestamp(after, timezone.utc))
    count = 0
    async with conn.transaction():
        async for r in conn.cursor(sql + " ORDER BY received_at, id", *args):
            d = r["doc"]
            if mask or (r["confidential"] and not reveal_confidential):
                d = _masked(d)
            out.write(json.dumps(d, ensure_ascii=False) + "\n")
            count += 1
    return count


async def calls_of_day(conn, day: date, limit: int = 1000) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT call_id, caller, did, started_at, ended_at, status, lane, seat, wait_s, end_reason, rating, "
        "recording, ticket_id, path, transfers FROM call_records WHERE day = $1 ORDER BY started_at LIMIT $2",
        day, limit)
    return [_row(r) for r in rows]


async def call_with_asterisk(conn, call_id: str) -> dict[str, Any] | None:
    """One call record with its CDR rows and CEL events (joined by Asterisk's linkedid)."""
    rec = await conn.fetchrow("SELECT * FROM call_records WHERE call_id = $1", call_id)
    if rec is None:
        return None
    linked = [r["linkedid"] for r in await conn.fetch(
        "SELECT linkedid FROM cdr WHERE uniqueid = $1 UNION SELECT linkedid FROM cel WHERE uniqueid = $1", call_id)]
    cdr = await conn.fetch("SELECT calldate, src, dst, channel, dstchannel, disposition, duration, billsec, "
                           "uniqueid, linkedid FROM cdr WHERE uniqueid = $1 OR linkedid = ANY($2::text[]) "
                           "ORDER BY calldate, sequence", call_id, linked)
    cel = await conn.fetch("SELECT eventtype, eventtime, channame, uniqueid, linkedid, appname FROM cel "
                           "WHERE uniqueid = $1 OR linkedid = ANY($2::text[]) ORDER BY eventtime, id", call_id, linked)
    out = _row(rec)
    out.pop("data", None)
    out["cdr"] = [_row(r) for r in cdr]
    out["cel"] = [_row(r) for r in cel]
    return out


async def audit_entries(conn, limit: int = 100, before: datetime | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT id, at, who, role, action, target, ip, details FROM audit_log "
                            "WHERE ($1::timestamptz IS NULL OR at < $1) ORDER BY at DESC, id DESC LIMIT $2",
                            before, limit)
    return [_row(r) for r in rows]


def _row(r) -> dict[str, Any]:
    out = {}
    for k, v in dict(r).items():
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, date):
            v = v.isoformat()
        out[k] = v
    return out


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start, start + timedelta(days=1)
