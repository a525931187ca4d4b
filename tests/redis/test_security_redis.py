"""Issue #12 items 3 and 12 against a real redis-server started the product's way:
a password every client must give, CONFIG/DEBUG/MODULE gone, private files."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError

from devstack import procs
from devstack.procs import RedisServer


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path / "run", data_dir=tmp_path / "data" / "redis")
    server.start()
    yield server
    server.stop()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_a_local_process_without_the_password_cannot_forge_a_session(private_redis):
    anonymous = aioredis.Redis(host="127.0.0.1", port=private_redis.port, decode_responses=True)
    try:
        with pytest.raises((AuthenticationError, ResponseError)) as e:
            await anonymous.hset("web:session:forged", mapping={"user_id": "u1", "csrf": "x"})
        assert "auth" in str(e.value).lower()
    finally:
        await anonymous.aclose()
    wrong = aioredis.Redis(host="127.0.0.1", port=private_redis.port, password="guess")
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            await wrong.ping()
    finally:
        await wrong.aclose()
    owner = aioredis.from_url(private_redis.url, decode_responses=True)     # the product's URL works
    try:
        assert await owner.ping() and await owner.exists("web:session:forged") == 0
    finally:
        await owner.aclose()


async def test_config_debug_and_module_are_disabled_even_with_the_password(private_redis):
    client = aioredis.from_url(private_redis.url, decode_responses=True)
    try:
        for argv in (("CONFIG", "GET", "dir"), ("CONFIG", "SET", "dir", "/tmp"), ("DEBUG", "SLEEP", "0"),
                     ("MODULE", "LIST"), ("REPLICAOF", "127.0.0.1", "1"), ("SLAVEOF", "127.0.0.1", "1")):
            with pytest.raises(ResponseError, match="unknown command"):
                await client.execute_command(*argv)
        assert await client.set("k", "v")                  # everything the product uses still works
    finally:
        await client.aclose()


def test_the_password_is_generated_once_kept_0600_and_never_on_the_command_line(private_redis, tmp_path):
    secret = private_redis.dir / procs.REDIS_SECRET_FILE
    assert _mode(secret) == 0o600 and _mode(private_redis.conf) == 0o600
    assert secret.read_text().strip() == private_redis.password and len(private_redis.password) >= 32
    cmdline = open(f"/proc/{private_redis.process.pid}/cmdline", "rb").read()
    assert private_redis.password.encode() not in cmdline
    again = RedisServer(tmp_path / "run2", data_dir=private_redis.dir)   # the same data folder
    assert again.password == private_redis.password
    assert private_redis.password not in procs.redact_url(private_redis.url)


def test_dump_and_aof_files_are_private(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.set("ticket", "敏感")
    client.save()
    client.close()
    assert _mode(private_redis.dir) == 0o700
    files = [p for p in private_redis.dir.rglob("*") if p.is_file()]
    assert any(p.name == "dump.rdb" for p in files) and any(".aof" in p.name for p in files)
    for p in files:
        assert _mode(p) & 0o077 == 0, (p, oct(_mode(p)))


def test_files_left_world_readable_by_an_older_run_are_tightened(tmp_path):
    folder = tmp_path / "redis"
    folder.mkdir()
    old = folder / "dump.rdb"
    old.write_bytes(b"")
    os.chmod(old, 0o644)
    os.chmod(folder, 0o755)
    server = RedisServer(tmp_path / "run", data_dir=folder)
    server.start()
    try:
        assert _mode(folder) == 0o700 and _mode(old) & 0o077 == 0
    finally:
        server.stop()


def test_services_and_commands_create_files_under_the_private_umask(tmp_path):
    # the services (Asterisk: recordings; Redis) start under the product's umask
    proc = procs.ManagedProcess("touch", ["sh", "-c", f"touch {tmp_path / 'made'}"], tmp_path / "log" / "touch.log")
    proc.start()
    proc.proc.wait(10)
    assert _mode(tmp_path / "made") & 0o027 == 0
    assert _mode(tmp_path / "log" / "touch.log") == 0o600
    # and every `hotline` command sets it for itself
    code = ("import os, sys; from hotline import cli; sys.argv=['hotline','--help'];\n"
            "try: cli.main(['--help'])\nexcept SystemExit: pass\n"
            f"open({str(tmp_path / 'cli-made')!r}, 'w').close()")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert _mode(tmp_path / "cli-made") & 0o027 == 0
