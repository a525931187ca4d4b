"""The system of record on PostgreSQL: tickets, call records, the audit trail, seat history,
Asterisk's CDR and CEL. Redis keeps the live state; records reach PostgreSQL through a durable
local queue (records/spool.py), so a PostgreSQL outage never holds a call up.

    schema.py     numbered SQL migrations (migrations/NNNN_name.sql), applied at start
    db.py         the connection pool, migrations and role grants at start
    model.py      pure: rows and columns from the records the controller keeps
    spool.py      the durable local queue (SQLite in the data folder), bounded
    writer.py     spool -> PostgreSQL in batches, in order; an outage is logged once
    store.py      the SQL: writing a batch, reading tickets, calls, audit
    asterisk.py   cdr_pgsql / cel_pgsql configuration for the private Asterisk (pure)
    route_counts.py  the routing engine's day counters (the reports' call figures), from its events
    reports.py    report figures in SQL
    reconcile.py  answered calls vs CDR rows of a day
    backup.py     pg_dump / pg_restore
"""
