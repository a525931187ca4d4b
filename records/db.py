"""The records database at start: migrations (as the owner), role grants (private cluster), the
application's connection pool.

    db = await Database.open(app_dsn, admin_dsn=admin_dsn, tz="Asia/Shanghai")
    async with db.pool.acquire() as conn: ...
    await db.close()

`admin_dsn` migrates; for an existing server (`database.url`) both are the same URL. On the
private cluster the application connects as its own role, which may read and append to the audit
trail but not change it, and Asterisk as a role that may only write CDR and CEL rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

from records.schema import migrate
from records.store import init_connection

log = logging.getLogger("records.db")

_GRANTS = """
GRANT USAGE ON SCHEMA public TO {app}, {cdr};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, schema_version FROM {app};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}, {cdr};
REVOKE ALL ON cdr, cel FROM {cdr};
GRANT SELECT, INSERT ON cdr, cel TO {cdr};
ALTER ROLE {cdr} SET timezone = 'UTC';
"""


async def prepare(admin_dsn: str, roles: tuple[str, str] | None = None) -> list[int]:
    """Migrate as the owner; on the private cluster grant (app, cdr) roles their rights. The versions applied."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        applied = await migrate(conn)
        if roles:
            await conn.execute(_GRANTS.format(app=roles[0], cdr=roles[1]))
    finally:
        await conn.close()
    if applied:
        log.info("records: schema migrated to version %d", applied[-1])
    return applied


@dataclass
class Database:
    pool: asyncpg.Pool
    tz: ZoneInfo
    dsn: str

    @classmethod
    async def open(cls, dsn: str, *, admin_dsn: str | None = None, roles: tuple[str, str] | None = None,
                   tz: str = "Asia/Shanghai", max_size: int = 5) -> Database:
        await prepare(admin_dsn or dsn, roles)
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=max_size, init=init_connection,
                                         command_timeout=30, timeout=5)
        return cls(pool, ZoneInfo(tz), dsn)

    async def close(self) -> None:
        await self.pool.close()
