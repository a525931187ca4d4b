"""Every Redis key of the ticket store and its hand-off outbox, in one place.

    tickets:seq:{YYYYMMDD}        INCR counter for the day's ticket numbers
    tickets:t:{id}                hash: one ticket
    tickets:call:{call_id}        string: the ticket id of a call (one draft per call)
    tickets:caller:{digest}       sorted set: a caller's ticket ids by received time
    tickets:day:{YYYYMMDD}        sorted set: the day's ticket ids by received time
    tickets:events                pub/sub channel: {"event", "ticket", "status"} (no personal data)
    tickets:outbox                stream + consumer group "handoff": confirmed tickets to deliver
    tickets:outbox:retry          sorted set: ticket ids waiting for their next attempt (score = due time)
    tickets:outbox:dead           sorted set: dead-lettered ticket ids (score = time)

Caller numbers are personal data, so the caller index is keyed by a digest of
the number: numbers stay out of key listings, MONITOR output and slow logs
(the digest is no protection against someone who can read the tickets).
Who read a ticket is the web layer's audit trail (web/audit.py).
For Redis Cluster use a hash-tagged prefix ("{tickets}"): the confirm
transaction and the outbox scripts touch several keys at once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

GROUP = "handoff"


@dataclass(frozen=True)
class TicketKeys:
    prefix: str = "tickets"

    def seq(self, day: str) -> str:
        return f"{self.prefix}:seq:{day}"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.prefix}:t:{ticket_id}"

    def call(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    def caller(self, number: str) -> str:
        digest = hashlib.sha256(f"{self.prefix}|{number}".encode()).hexdigest()[:24]
        return f"{self.prefix}:caller:{digest}"

    def day(self, day: str) -> str:
        return f"{self.prefix}:day:{day}"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def outbox(self) -> str:
        return f"{self.prefix}:outbox"

    @property
    def retry(self) -> str:
        return f"{self.prefix}:outbox:retry"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:outbox:dead"
