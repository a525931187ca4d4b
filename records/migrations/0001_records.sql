-- The records the hotline must keep (issue 15). Redis keeps the live state only.

CREATE TABLE tickets (
    id            text PRIMARY KEY,
    call_id       text NOT NULL,
    status        text NOT NULL,
    caller        text,
    received_at   timestamptz NOT NULL,
    day           date NOT NULL,                 -- the hotline's local day of received_at
    seat          text,
    confirmed_at  timestamptz,
    confirmed_by  text,
    confidential  boolean NOT NULL DEFAULT false,
    appeal_type   text,
    category      text,
    district      text,
    doc           jsonb NOT NULL,                -- the ticket as the API shows it (Ticket.to_dict)
    version       double precision NOT NULL,     -- updated_at of the snapshot: a later one wins
    written_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_day ON tickets (day, received_at);
CREATE INDEX tickets_call ON tickets (call_id);
CREATE INDEX tickets_caller ON tickets (caller, received_at);

-- What the operator changed when confirming: one row per field.
CREATE TABLE ticket_corrections (
    ticket_id     text NOT NULL REFERENCES tickets (id),
    field         text NOT NULL,
    draft_value   jsonb,
    confirmed_value jsonb,
    operator      text NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, field)
);

-- The hand-off outbox: written in the same transaction as the confirmed ticket.
CREATE TABLE handoff_outbox (
    ticket_id     text PRIMARY KEY REFERENCES tickets (id),
    work_order    jsonb NOT NULL,
    queued_at     timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'queued',   -- queued | handed_off | dead_letter
    attempts      integer NOT NULL DEFAULT 0,
    delivered_at  timestamptz,
    last_error    text
);

CREATE TABLE call_records (
    call_id       text PRIMARY KEY,                -- Asterisk's uniqueid of the caller's channel
    caller        text,
    did           text,
    started_at    timestamptz,
    day           date,
    ended_at      timestamptz,
    status        text,
    lane          text,
    seat          text,
    wait_s        double precision,                -- queued -> answered (or -> ended when never answered)
    end_reason    text,
    rating        text,
    recording     text,
    ticket_id     text,
    path          jsonb NOT NULL DEFAULT '[]',
    transfers     jsonb NOT NULL DEFAULT '[]',
    data          jsonb NOT NULL,                  -- every field the controller recorded
    written_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_records_day ON call_records (day, started_at);
CREATE INDEX call_records_seat ON call_records (seat, started_at);

-- Who did what to what: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE for every
-- role; the application's role is granted SELECT and INSERT only).
CREATE TABLE audit_log (
    id            text PRIMARY KEY,                -- the entry's id where it was made (stream id, uuid)
    at            timestamptz NOT NULL,
    who           text NOT NULL,
    role          text NOT NULL,
    action        text NOT NULL,
    target        text NOT NULL,
    ip            text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Seat and operator state changes (login, ready, pause with its reason, wrap-up, logout, phone).
CREATE TABLE seat_history (
    id            text PRIMARY KEY,
    at            timestamptz NOT NULL,
    seat          text NOT NULL,
    operator      text,
    event         text NOT NULL,
    state         text,
    reason        text,
    node          text
);
CREATE INDEX seat_history_seat ON seat_history (seat, at);
