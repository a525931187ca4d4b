-- Tickets per category from a per-day rollup (records/reports.py SqlReportFigures.categories): each
-- ticket's category path (its confirmed category once confirmed, else the drafted one; '{}' when it
-- has none that is a list of names: 未分类) kept as a column, and the tickets per local day, path
-- and confirmed-or-not counted in the same transaction as the ticket (records/store.py), so the
-- categories of a quarter read about 90 days of rollup rows, not every ticket of the quarter.
ALTER TABLE tickets ADD COLUMN category_path text[] NOT NULL DEFAULT '{}';
UPDATE tickets SET category_path = p.path FROM (
    SELECT id, CASE WHEN jsonb_typeof(cat) = 'array' AND jsonb_array_length(cat) > 0
                         AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cat) e
                                         WHERE jsonb_typeof(e) <> 'string' OR e #>> '{}' = '')
                    THEN ARRAY(SELECT x FROM jsonb_array_elements_text(cat) WITH ORDINALITY AS c(x, i) ORDER BY i)
                    ELSE '{}'::text[] END AS path
    FROM (SELECT id, CASE WHEN status <> 'draft' AND jsonb_typeof(doc->'confirmed') = 'object'
                          THEN doc->'confirmed'->'category' ELSE doc->'draft'->'category' END AS cat
          FROM tickets) t) p
WHERE tickets.id = p.id;

CREATE TABLE ticket_days (
    day           date NOT NULL,                   -- tickets.day: the hotline's local day
    path          text[] NOT NULL,                 -- tickets.category_path
    confirmed     boolean NOT NULL,                -- status <> 'draft'
    n             bigint NOT NULL,
    PRIMARY KEY (day, path, confirmed)
);
INSERT INTO ticket_days (day, path, confirmed, n)
    SELECT day, category_path, status <> 'draft', count(*) FROM tickets GROUP BY 1, 2, 3;

-- (the cache of settled days' categories is not needed any more)
DROP TABLE report_category_days;
