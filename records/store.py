"""The SQL of the records: writing a batch from the spool in one transaction, and the reads that
must survive a Redis loss (tickets, call records with their CDR and CEL, the audit trail).

Every write is idempotent, so a batch written twice (the spool lost its "done" in a crash) changes
nothing the second time: tickets keep the newest snapshot by version, call patches merge, audit
and seat rows are keyed by their own id.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from records.model import (
    call_columns,
    call_day_deltas,
    call_day_key,
    category_path,
    correction_rows,
    merge_call,
    outbox_state,
    ticket_columns,
)

Row = tuple[int, str, str, dict[str, Any]]       # spool: seq, kind, key, payload

_TICKET_COLS = ("id", "call_id", "status", "caller", "received_at", "day", "seat", "confirmed_at",
                "confirmed_by", "confidential", "appeal_type", "category", "district", "doc", "version",
                "category_path")
_INSERT_TICKET = (f"INSERT INTO tickets ({', '.join(_TICKET_COLS)}) "
                  f"VALUES ({', '.join(f'${i}' for i in range(1, len(_TICKET_COLS) + 1))}) ON CONFLICT (id) ")
_NEW_TICKET = _INSERT_TICKET + "DO NOTHING RETURNING id"
_KEPT_TICKET = ("SELECT day, status <> 'draft' AS confirmed, category_path FROM tickets WHERE id = $1 "
                "FOR UPDATE")
_UPSERT_TICKET = (
    _INSERT_TICKET + "DO UPDATE SET "
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
                [(a["id"], datetime.fromtimestamp(float(a["ts"]), UTC), a["who"], a["role"], a["action"],
                  a["target"], a["ip"], a.get("details") or {}) for a in audit])
        routes = [r[3] for r in rows if r[1] == "route"]
        if routes:
            from records.route_counts import write_route_events

            await write_route_events(conn, routes)
        seats = [r[3] for r in rows if r[1] == "seat"]
        if seats:
            await conn.executemany(
                "INSERT INTO seat_history (id, at, seat, operator, event, state, reason, node) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                [(s["id"], datetime.fromtimestamp(float(s["at"]), UTC), s["seat"], s.get("operator"),
                  s["event"], s.get("state"), s.get("reason"), s.get("node")) for s in seats])


async def _write_calls(conn, rows: list[Row], tz: ZoneInfo) -> None:
    """Merge the patches into the call records and move their counts in call_days to match.

    Every call of the batch is locked first (a new one by an empty row made here, in call id
    order), so what it counted in before is read under the lock even when another writer makes
    the same call at the same time: the rollup never counts a call twice."""
    ids = sorted({key for _, _, key, _ in rows})
    await conn.execute("INSERT INTO call_records (call_id, data) SELECT id, '{}'::jsonb FROM unnest($1::text[]) "
                       "AS u(id) ORDER BY id ON CONFLICT (call_id) DO NOTHING", ids)
    existing = {r["call_id"]: r for r in await conn.fetch(
        "SELECT call_id, data, day, lane, seat, answered_at IS NOT NULL AS answered FROM call_records "
        "WHERE call_id = ANY($1::text[]) ORDER BY call_id FOR UPDATE", ids)}
    merged: dict[str, dict] = {}
    for _, _, key, patch in rows:
        merged[key] = merge_call(merged.get(key, existing[key]["data"]), patch)
    args, changes = [], []
    for call_id, data in merged.items():
        cols = call_columns(data, tz)
        args.append((call_id, *(cols[c] for c in _CALL_COLS), data))
        old = existing[call_id]
        changes.append(((call_day_key(old["day"], old["lane"], old["seat"]), bool(old["answered"])),
                        (call_day_key(cols["day"], cols["lane"], cols["seat"]), cols["answered_at"] is not None)))
    await conn.executemany(_UPSERT_CALL, args)
    deltas = call_day_deltas(changes)
    if deltas:
        keys = sorted(deltas)                    # one order for every writer: no deadlock between them
        await conn.execute(
            "INSERT INTO call_days (day, lane, seat, offered, answered) "
            "SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) "
            "ON CONFLICT (day, lane, seat) DO UPDATE SET offered = call_days.offered + EXCLUDED.offered, "
            "answered = call_days.answered + EXCLUDED.answered",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [deltas[k][0] for k in keys], [deltas[k][1] for k in keys])


async def _write_ticket(conn, p: Mapping[str, Any]) -> None:
    cols = {**ticket_columns(p), "category_path": list(category_path(p["doc"]))}
    values = [cols[c] for c in _TICKET_COLS]
    # what the ticket counted in (ticket_days), read under its row lock; a new one is inserted, and
    # one another writer made meanwhile is then read locked: never counted twice
    kept = await conn.fetchrow(_KEPT_TICKET, cols["id"])
    if kept is None and await conn.fetchval(_NEW_TICKET, *values) is None:
        kept = await conn.fetchrow(_KEPT_TICKET, cols["id"])
    if kept is not None and await conn.fetchval(_UPSERT_TICKET, *values) is None:
        return                               # an older snapshot than the one kept
    new = (cols["day"], cols["category_path"], cols["status"] != "draft")
    old = (kept["day"], list(kept["category_path"]), kept["confirmed"]) if kept is not None else None
    if old != new:                           # counted elsewhere now: ticket_days moved to match
        moves = ([(*old, -1)] if old is not None else []) + [(*new, 1)]
        await conn.executemany(
            "INSERT INTO ticket_days (day, path, confirmed, n) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (day, path, confirmed) DO UPDATE SET n = ticket_days.n + EXCLUDED.n",
            sorted(moves, key=lambda m: (m[0], m[1], m[2])))     # one order for every writer
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
async def ticket_record(conn, ticket_id: str | None = None, *, call_id: str | None = None) -> dict[str, Any] | None:
    """A ticket by id, or a call's latest: {"doc": its API form, "received_at", "confirmed_at",
    "updated_at": exact Unix times} (tickets.store.Ticket.from_record); None when there is none."""
    cols = ("SELECT doc, extract(epoch FROM received_at)::float8 AS received_at, "
            "extract(epoch FROM confirmed_at)::float8 AS confirmed_at, version AS updated_at FROM tickets ")
    if ticket_id is not None:
        row = await conn.fetchrow(cols + "WHERE id = $1", ticket_id)
    else:
        row = await conn.fetchrow(cols + "WHERE call_id = $1 ORDER BY received_at DESC LIMIT 1", call_id)
    if row is None:
        return None
    doc = json.loads(row["doc"]) if isinstance(row["doc"], str) else row["doc"]
    if not isinstance(doc, dict):
        return None
    return {"doc": doc, "received_at": row["received_at"], "confirmed_at": row["confirmed_at"],
            "updated_at": row["updated_at"]}


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
        args.append(datetime.fromtimestamp(after, UTC))
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


async def last_seat_events(conn, seats: Iterable[str]) -> list[dict[str, Any]]:
    """Each seat's last state change kept (seat, operator, event, reason): what Redis losing its data
    cannot take, so who was logged in where is put back from here."""
    rows = await conn.fetch("SELECT DISTINCT ON (seat) seat, operator, event, reason FROM seat_history "
                            "WHERE seat = ANY($1::text[]) ORDER BY seat, at DESC, id DESC", list(seats))
    return [dict(r) for r in rows]


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
