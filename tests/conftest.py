"""Shared fixtures: real services in private run folders on free ports."""
from __future__ import annotations

import pytest

from devstack.procs import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the whole test session (torn down after)."""
    server = RedisServer(tmp_path_factory.mktemp("redis-run"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server):
    """A redis.asyncio client on a freshly flushed database."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A real private PostgreSQL cluster for the whole test session (devstack/pg_server.py).

    Its folder is outside pytest's 0700 temporary folders: as root, PostgreSQL runs as the
    `postgres` OS user, which must reach it."""
    import shutil

    from devstack.orphans import scratch_folder
    from devstack.pg_server import PostgresServer

    base = scratch_folder("hotline-pg-test-")      # a run killed before its teardown: reaped by the next
    server = PostgresServer(base / "postgres", tmp_path_factory.mktemp("pg-log"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def pg_db(pg_server):
    """A fresh database on the session's cluster, migrated, with the app's role granted;
    yields (records.db.Database, admin dsn of that database)."""
    import uuid

    import asyncpg

    from devstack.pg_server import APP_ROLE, CDR_ROLE, SUPERUSER
    from records.db import Database

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn(SUPERUSER, "postgres"))
    await admin.execute(f"CREATE DATABASE {name} OWNER {SUPERUSER}")
    await admin.execute(f"GRANT CONNECT ON DATABASE {name} TO {APP_ROLE}, {CDR_ROLE}")
    await admin.close()
    db = await Database.open(pg_server.dsn(APP_ROLE, name), admin_dsn=pg_server.dsn(SUPERUSER, name),
                             roles=(APP_ROLE, CDR_ROLE))
    yield db, pg_server.dsn(SUPERUSER, name)
    await db.close()
    admin = await asyncpg.connect(pg_server.dsn(SUPERUSER, "postgres"))
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()
