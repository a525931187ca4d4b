-- The call figures of the reports (records/reports.py call_figures) from a per-day rollup kept in
-- the same transaction as the call records (records/store.py): offered (reached a lane) and
-- answered calls per local day, lane and seat ('' when no seat rang), so a quarter reads about
-- 90 days x (lane, seat) rows, not every call record of the quarter. Filled here from the call
-- records already kept.
CREATE TABLE call_days (
    day           date NOT NULL,                   -- call_records.day: the hotline's local day
    lane          text NOT NULL,
    seat          text NOT NULL,                   -- '' : no seat
    offered       bigint NOT NULL,
    answered      bigint NOT NULL,
    PRIMARY KEY (day, lane, seat)
);
INSERT INTO call_days (day, lane, seat, offered, answered)
    SELECT day, lane, coalesce(seat, ''), count(*), count(answered_at)
    FROM call_records WHERE day IS NOT NULL AND lane IS NOT NULL
    GROUP BY 1, 2, 3;
