"""Numbered SQL migrations shipped with the package (migrations/NNNN_name.sql).

Each file is applied once, in number order, in its own transaction together with its row in
`schema_version`; concurrent starts (several controllers) take turns on an advisory lock. A
database whose schema is newer than any file this code knows is refused with SchemaTooNew: an
older controller must not write records a newer schema has moved on from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from kernel.errors import DomainError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_ID = 1_234_512_345            # pg_advisory_xact_lock key of the migrations


class SchemaError(DomainError):
    error_id = "records.schema"


class SchemaTooNew(SchemaError):
    error_id = "records.schema_too_new"

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"the database's schema is version {found}, newer than this code knows ({known}): "
                         f"run the newer hotline, or restore a backup made by this version",
                         found=found, known=known)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migration files of the package, in order; numbers must run 1, 2, 3 ... without a gap."""
    out = []
    for entry in resources.files("records").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    for i, mig in enumerate(out, start=1):
        if mig.version != i:
            raise SchemaError(f"migration {i:04d} is missing (found {mig.version:04d})")
    return out


def known_version() -> int:
    return len(migrations())


async def current_version(conn) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def migrate(conn) -> list[int]:
    """Apply what is missing; the versions applied. Raises SchemaTooNew."""
    files = migrations()
    known = len(files)
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                           " version integer PRIMARY KEY, name text NOT NULL,"
                           " applied_at timestamptz NOT NULL DEFAULT now())")
        found = await current_version(conn)
        if found > known:
            raise SchemaTooNew(found, known)
        for m in files[found:]:
            async with conn.transaction():           # a savepoint: one file, all or nothing
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name)
            applied.append(m.version)
    return applied
