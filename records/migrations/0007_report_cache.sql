-- Tickets per category of days that are over (records/reports.py), as web/routes_reports.py keeps
-- them in Redis: a quarter's report does not read every ticket again.
CREATE TABLE report_category_days (
    day           date NOT NULL,
    level         integer NOT NULL,
    counts        jsonb NOT NULL,                  -- {category: {"tickets": n, "confirmed": n}}
    PRIMARY KEY (day, level)
);
