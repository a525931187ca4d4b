-- The routing engine's counters in SQL (records/route_counts.py): the reports' call figures
-- (offered, answered, abandoned, waits, talk, wrap-up, rings, callbacks ...) per local day and
-- scope (all, lane:<id>, seat:<id>), the same numbers as Redis's day counters. Each routing event
-- that carried counts is kept once by its id, and its counts are added in the same transaction,
-- so an event written twice (several controllers, a replay after a crash) is counted once.
CREATE TABLE route_events (
    id            text PRIMARY KEY,                -- <prefix>:<stream id> of the routing event
    at            timestamptz NOT NULL,
    day           date NOT NULL,                   -- the hotline's local day the counts were made on
    type          text NOT NULL,
    call_id       text,
    data          jsonb NOT NULL
);
CREATE INDEX route_events_day ON route_events (day);
CREATE INDEX route_events_call ON route_events (call_id);

CREATE TABLE route_counts (
    day           date NOT NULL,
    scope         text NOT NULL,                   -- all | lane:<id> | seat:<id>
    counter       text NOT NULL,                   -- agents.events.COUNTERS
    n             bigint NOT NULL,
    PRIMARY KEY (day, scope, counter)
);
