-- Satisfaction callbacks (回访, agents/revisit.py): one task per closed ticket reported by the
-- work-order system, its attempts, and the numbers never to be called.
CREATE TABLE revisit_tasks (
    ticket_id     text PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,            -- the work-order system's event (idempotency)
    number        text,                            -- the canonical number called (dialling policy)
    closed_at     timestamptz NOT NULL,
    state         text NOT NULL,                   -- pending | dialling | done | failed
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz,                     -- the next attempt (pending)
    dialled_at    timestamptz,                     -- the attempt in progress started (dialling)
    result        text,                            -- satisfied | basic | unsatisfied
    reason        text,                            -- why failed (agents/revisit_plan.Skip)
    transcript    text,                            -- the recorded reason (不满意), transcribed
    recording     text,
    call_id       text,                            -- the answered attempt's call
    payload       jsonb NOT NULL DEFAULT '{}',     -- the webhook's body as received (masked in the UI)
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revisit_tasks_due ON revisit_tasks (state, next_at);
CREATE INDEX revisit_tasks_updated ON revisit_tasks (updated_at);

CREATE TABLE revisit_attempts (
    ticket_id     text NOT NULL REFERENCES revisit_tasks (ticket_id),
    attempt       integer NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    channel_id    text NOT NULL,
    call_id       text,
    outcome       text,                            -- answered | failed:<reason> | deferred
    PRIMARY KEY (ticket_id, attempt)
);

CREATE TABLE do_not_call (
    number        text PRIMARY KEY,                -- canonical (agents/dialpolicy.py)
    reason        text NOT NULL,                   -- asked_in_revisit | admin | ...
    added_at      timestamptz NOT NULL DEFAULT now(),
    added_by      text NOT NULL DEFAULT ''
);

-- Leader-answering days (领导接听日, agents/leader.py): the sessions admins schedule and the calls the
-- leader took in them (each with its ticket and follow-up deadline: the session's report).
CREATE TABLE leader_sessions (
    id            text PRIMARY KEY,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    doc           jsonb NOT NULL,                  -- agents/leader_plan.LeaderSession.to_dict()
    cancelled     boolean NOT NULL DEFAULT false,
    created_by    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leader_sessions_window ON leader_sessions (ends_at, starts_at);

CREATE TABLE leader_calls (
    call_id       text PRIMARY KEY,
    session_id    text NOT NULL REFERENCES leader_sessions (id),
    ticket_id     text,
    seat          text NOT NULL,
    caller        text,
    answered_at   timestamptz NOT NULL,
    follow_up_by  date NOT NULL                    -- 领导交办: the working day its follow-up is due
);
CREATE INDEX leader_calls_session ON leader_calls (session_id, answered_at);
