-- Reports in SQL (records/reports.py): when a seat answered, as a column, and the indexes the
-- day/week/quarter figures read.
ALTER TABLE call_records ADD COLUMN answered_at timestamptz;
UPDATE call_records SET answered_at = to_timestamp((data->>'answered')::double precision)
    WHERE coalesce(data->>'answered', '') ~ '^[0-9]+(\.[0-9]+)?$';
CREATE INDEX call_records_day_lane ON call_records (day, lane);
CREATE INDEX tickets_day_category ON tickets (day, category);
