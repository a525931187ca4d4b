-- Retention (records/retention.py): when a record's personal data was anonymised, and when a
-- call's recording was deleted.
ALTER TABLE tickets ADD COLUMN anonymised_at timestamptz;
ALTER TABLE call_records ADD COLUMN anonymised_at timestamptz;
ALTER TABLE call_records ADD COLUMN recording_deleted_at timestamptz;
CREATE INDEX tickets_received_at ON tickets (received_at);
CREATE INDEX call_records_started_at ON call_records (started_at);
