"""The records database (PostgreSQL) as a feature: its read routes (reports
that survive a Redis loss), and the one-time move of records an earlier
version kept only in Redis. The database itself is started by the runtime."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from hotline.features.base import Deps, Feature

log = logging.getLogger("hotline.features.records")


@dataclass(kw_only=True)
class Records(Feature):
    on: bool          # False: no records database (database.url none)


def load(deps: Deps, store_prefix: str) -> Records:
    records = deps.records
    if records is None:
        return Records(on=False)
    from records.upgrade import import_from_redis
    from web.routes_records import records_routes  # asyncpg only with a records database

    redis = deps.redis

    async def import_redis_records() -> None:
        try:
            await import_from_redis(redis, records.writer, records.db.pool)
        except Exception:                       # logged; it runs again at the next start
            log.exception("records: moving the Redis records into PostgreSQL failed")

    async def follow_routing() -> None:
        records.follow_routing(redis, store_prefix)     # the reports' counters (its task is the records')

    return Records(on=True, routes=[records_routes(records.db.pool)],
                   tasks=[("records-import", import_redis_records)], after_start=[follow_routing])
