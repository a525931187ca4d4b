"""The private PostgreSQL cluster (devstack/pg_server.py): folder and secrets modes, who may connect how."""
from __future__ import annotations

import os
import stat

import asyncpg
import pytest

from devstack.pg_server import APP_ROLE, SUPERUSER
from hotline.records_up import RecordsUp
from hotline.settings import load


def test_cluster_folder_and_secrets_are_private(pg_server):
    for path in (pg_server.dir, pg_server.cluster, pg_server.socket_dir):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    assert stat.S_IMODE(os.stat(pg_server.dir / "secrets.json").st_mode) == 0o600
    hba = [line.split() for line in (pg_server.cluster / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert hba == [["local", "all", "all", "trust"], ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]]
    if os.geteuid() == 0:                      # PostgreSQL refuses root: it runs as the postgres OS user
        assert os.stat(pg_server.cluster).st_uid != 0


async def test_tcp_needs_the_password_and_the_socket_is_trusted(pg_server):
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        await asyncpg.connect(host="127.0.0.1", port=pg_server.port, user=SUPERUSER, database="hotline",
                              password="guess")
    conn = await asyncpg.connect(host="127.0.0.1", port=pg_server.port, user=APP_ROLE, database="hotline",
                                 password=pg_server.password(APP_ROLE))
    try:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()
    conn = await asyncpg.connect(pg_server.admin_dsn)
    try:
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
    finally:
        await conn.close()


async def test_records_off_with_database_url_none(tmp_path):
    settings = load(env={}, overrides={"database": {"url": "none"}, "storage": {"data_dir": str(tmp_path)}})
    assert await RecordsUp.start(settings, tmp_path) is None
