"""A private PostgreSQL cluster in a data folder, on a free port of 127.0.0.1.

    server = PostgresServer(Path("data/postgres"), log_dir=run / "log")
    server.start()              # initdb on first run, then postgres; waits until it answers
    server.admin_dsn            # the cluster's superuser over the unix socket (migrations, backups)
    server.app_dsn              # the application's role (no UPDATE/DELETE on the audit trail)
    server.cdr_dsn_parts        # Asterisk's role for cdr_pgsql/cel_pgsql (TCP, scram password)
    server.stop()               # fast shutdown (SIGINT), then SIGKILL

Layout of the folder (0700): `cluster/` (PGDATA), `socket/` (the unix socket;
only this folder's owner reaches it, so local connections are `trust`),
`secrets.json` (0600: the generated passwords of the roles that connect over
TCP, scram-sha-256). PostgreSQL refuses to run as root: when this process is
root, initdb and postgres run as the `postgres` OS user (Debian's package
creates it), which then owns the folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devstack.procs import ManagedProcess, ProcessError, free_port, tail
from records.pgbin import pg_bin

SUPERUSER = "hotline_admin"
APP_ROLE = "hotline_app"
CDR_ROLE = "hotline_cdr"
DATABASE = "hotline"
OS_USER_WHEN_ROOT = "postgres"


def _os_user() -> str | None:
    return OS_USER_WHEN_ROOT if os.geteuid() == 0 else None


def _chown(path: Path, user: str | None) -> None:
    if user:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _reachable_by(path: Path, user: str) -> bool:
    """Whether `user` may enter every folder above `path` (PostgreSQL must reach its own folder)."""
    res = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path.parent)], capture_output=True)
    return res.returncode == 0


class PostgresServer:
    def __init__(self, folder: Path, log_dir: Path, port: int | None = None) -> None:
        self.dir = Path(folder).resolve()
        self.cluster = self.dir / "cluster"
        self.socket_dir = self.dir / "socket"
        self.port = port or free_port()
        self.user = _os_user()
        self.process = ManagedProcess("postgres", [], Path(log_dir) / "postgres.log")
        self._secrets: dict[str, str] = {}

    # -- addresses -----------------------------------------------------------------------
    def dsn(self, role: str, database: str = DATABASE) -> str:
        return f"postgresql://{role}@/{database}?host={self.socket_dir}&port={self.port}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn(SUPERUSER)

    @property
    def app_dsn(self) -> str:
        return self.dsn(APP_ROLE)

    def password(self, role: str) -> str:
        return self._secrets[role]

    @property
    def cdr_dsn_parts(self) -> dict[str, str | int]:
        return {"host": "127.0.0.1", "port": self.port, "dbname": DATABASE, "user": CDR_ROLE,
                "password": self._secrets[CDR_ROLE]}

    # -- life cycle ----------------------------------------------------------------------
    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if self.user and not _reachable_by(self.dir, self.user):
            raise ProcessError("postgres", f"the {self.user} OS user cannot reach {self.dir} (a folder above it "
                                           f"is closed to others): choose database.data_dir elsewhere")
        self.socket_dir.mkdir(exist_ok=True)
        os.chmod(self.socket_dir, 0o700)
        for p in (self.dir, self.socket_dir):
            _chown(p, self.user)
        self._load_secrets()

    def _load_secrets(self) -> None:
        path = self.dir / "secrets.json"
        if path.exists():
            self._secrets = json.loads(path.read_text())
        for role in (APP_ROLE, CDR_ROLE):
            self._secrets.setdefault(role, secrets.token_urlsafe(24))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._secrets, fh)
        os.chmod(path, 0o600)

    def _initdb(self) -> None:
        if (self.cluster / "PG_VERSION").exists():
            return
        if self.cluster.exists():
            shutil.rmtree(self.cluster)       # a half-made cluster of an initdb that died
        res = subprocess.run(
            [pg_bin("initdb"), "-D", str(self.cluster), "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"],
            capture_output=True, text=True, user=self.user, cwd="/")
        if res.returncode != 0:
            raise ProcessError("postgres", "initdb failed", (res.stdout + res.stderr)[-2000:])
        # Only the unix socket (a 0700 folder) is trusted; TCP on 127.0.0.1 needs a scram password.
        (self.cluster / "pg_hba.conf").write_text(
            "# written by hotline (devstack/pg_server.py)\n"
            "local all all trust\n"
            "host  all all 127.0.0.1/32 scram-sha-256\n")
        _chown(self.cluster / "pg_hba.conf", self.user)

    def start(self, timeout: float = 30.0) -> None:
        self._prepare()
        self._initdb()
        self.process.argv = [
            pg_bin("postgres"), "-D", str(self.cluster), "-p", str(self.port), "-h", "127.0.0.1",
            "-k", str(self.socket_dir), "-c", "unix_socket_permissions=0700", "-c", "logging_collector=off",
            "-c", "password_encryption=scram-sha-256", "-c", "max_connections=100", "-c", "fsync=on"]
        self.process.start(user=self.user)
        if not self._wait_ready(timeout):
            log_tail = tail(self.process.log)
            self.process.stop()
            raise ProcessError("postgres", f"not answering on port {self.port}", log_tail)
        self._bootstrap()

    def _psql(self, sql: str, database: str = "postgres") -> str:
        res = subprocess.run([pg_bin("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                              "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database,
                              "-c", sql], capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise ProcessError("postgres", f"psql failed: {res.stderr.strip()}")
        return res.stdout.strip()

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                return False
            res = subprocess.run([pg_bin("pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(self.port)],
                                 capture_output=True)
            if res.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def _bootstrap(self) -> None:
        """The database and the two login roles (passwords set again at every start, from secrets.json)."""
        if not self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"):
            self._psql(f"CREATE DATABASE {DATABASE} OWNER {SUPERUSER} ENCODING 'UTF8'")
        for role in (APP_ROLE, CDR_ROLE):
            pw = self._secrets[role]            # token_urlsafe: no quote can occur
            exists = self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'")
            verb = "ALTER" if exists else "CREATE"
            self._psql(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{pw}'")
        self._psql(f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC; "
                   f"GRANT CONNECT ON DATABASE {DATABASE} TO {APP_ROLE}, {CDR_ROLE}", DATABASE)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown: sessions are ended, everything committed is on disk."""
        proc = self.process.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self.process.stop()

    def alive(self) -> bool:
        return self.process.alive()

    def restart(self) -> None:
        self.stop()
        self.start()
