-- One-time moves of records into PostgreSQL (e.g. the Redis records of an earlier version).
CREATE TABLE imports (
    name          text PRIMARY KEY,
    done_at       timestamptz NOT NULL DEFAULT now(),
    counts        jsonb NOT NULL DEFAULT '{}'
);
