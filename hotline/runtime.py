"""Bring the whole hotline up on this machine and down again.

Order up: Redis -> controller's FastAGI server (its port goes into the
dialplan) -> Asterisk with the generated config -> AMI -> web. Down is the
reverse, with the FastAGI server draining calls in progress.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from aiohttp import web

from dialplan import hotline as dp
from dialplan.publish import publish
from dialplan.outbound import from_trunks
from dialplan.seats import render_tls_transport
from dialplan.trunks import render_trunks, transport_options
from hotline.procs import RedisServer, free_port, redact_url, secret_file, try_lock
from hotline.settings import Settings
from hotline.tls import ensure_self_signed
from pbx.agi_server import FastAGIServer, Handler
from pbx.ami import AMIClient
from pbx.asterisk_server import AsteriskPorts, AsteriskServer
from recordings.tts import PromptCache, TTSVoice
from web.app import create_app
from web.config import WebConfig

REDIS_MAX_CONNECTIONS = 4096      # per controller; Redis itself takes 10,000 clients
log = logging.getLogger("hotline.runtime")
STEP_STOP_S = 30.0           # each stop step (web, FastAGI drain, closers, AMI ...)
BACKGROUND_STOP_S = 10.0       # each background loop gets this long to end after its cancel


def new_run_dir(settings: Settings, tag: str = "up") -> Path:
    root = settings.path(settings.hotline.run_root)
    root.mkdir(parents=True, exist_ok=True)
    run = root / f"{tag}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    return run


@dataclass
class Runtime:
    """The running pieces; built by `start`, torn down by `stop`."""

    settings: Settings
    run: Path
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    # The composition root's hook: called once Redis answers and before the
    # FastAGI server starts; returns the call handlers by AGI script name.
    wire: Callable[["Runtime"], Awaitable[Mapping[str, Handler]]] | None = None
    # Called once everything is up (background workers, resync).
    started: Callable[["Runtime"], Awaitable[None]] | None = None
    background: list[asyncio.Task] = field(default_factory=list)
    services: dict[str, Any] = field(default_factory=dict)
    persistent_redis: bool = True
    web_routes: list = field(default_factory=list)
    pjsip_seats: str = ""
    closers: list = field(default_factory=list)     # async callables run at stop, before Redis goes
    web_contexts: list = field(default_factory=list)  # aiohttp cleanup contexts (e.g. the WebSocket fan-out)
    fallback_members: tuple[str, ...] = ()
    seat_out: tuple[tuple[str, str], ...] = ()      # (seat id, interface) seat phones dial by number
    tls_port: int = 0                               # seats' SIP/TLS port (0: TLS off)
    tls_files: tuple[str, str] | None = None        # (certificate, key)
    _lock: Any = None
    redis_server: RedisServer | None = None
    agi_secret: str = ""
    redis: aioredis.Redis | None = None
    records: Any = None               # hotline.records_up.RecordsUp: the records database (None: off)
    agi: FastAGIServer | None = None
    asterisk: AsteriskServer | None = None
    ami: AMIClient | None = None
    web_runner: web.AppRunner | None = None
    web_port: int = 0
    prompts: PromptCache | None = None
    on_ami_reconnect: Callable[[], Awaitable[None]] | None = None
    # Extra dialplan contexts (benchmarks, tests): f(agi_url, prompts) -> contexts.
    extra_contexts_factory: Callable[[str, PromptCache], tuple] | None = None

    @property
    def agi_url(self) -> str:
        """What the dialplan's AGI() calls: the listener plus the deployment's secret as the first
        path segment (dialplan/hotline.py appends "/ivr")."""
        assert self.agi is not None
        host = self.settings.fastagi.host or self.settings.network.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"agi://{host}:{self.agi.port}/{self.agi_secret}"

    @property
    def redis_url(self) -> str:
        """The URL every client uses (with the password of the private Redis)."""
        return self.redis_server.url if self.redis_server else self.settings.redis.url

    def _redis_data_dir(self) -> Path | None:
        """The persistent Redis folder, unless another hotline on this machine holds it."""
        if not self.persistent_redis:
            return None
        folder = self.settings.path(self.settings.storage.data_dir) / "redis"
        self._lock = try_lock(folder / ".lock")
        if self._lock is None:
            log.warning("%s is in use by another hotline on this machine; this one keeps its Redis data "
                        "in its run folder", folder)
            return None
        return folder

    def generated_config(self) -> dict[str, str]:
        assert self.agi and self.prompts
        s = self.settings
        spec = dp.DialplanSpec(
            agi_url=self.agi_url,
            prompts={"fallback": str(self.prompts.ensure(s.prompts.fallback)),
                     "sorry": str(self.prompts.ensure(s.prompts.sorry)),
                     "line_silence": str(self.prompts.silence(10)),
                     "demo_reply": str(self.prompts.ensure("您好，12345热线，工号为您服务，请讲。"))},
            fallback_queue_timeout_s=s.fallback.queue_timeout_s,
            fallback_members=self.fallback_members,
            out_trunks=from_trunks(s.trunks, s.dialling.caller_id),
            seat_out=self.seat_out,
            out_international=tuple(p for p in s.dialling.policy.allow_prefixes if p.startswith("00")),
            extra=self.extra_contexts_factory(self.agi_url, self.prompts)
            if self.extra_contexts_factory else (),
        )
        return {
            "extensions_hotline.conf": dp.render(spec),
            "queues_hotline.conf": dp.render_fallback_queue(spec),
            "pjsip_seats.conf": self.pjsip_seats,
            "pjsip_trunks.conf": render_trunks(s.trunks),
            "pjsip_tls.conf": render_tls_transport(s.network.sip.sip_bind, self.tls_port, *self.tls_files)
            if self.tls_port and self.tls_files else "; seats' SIP/TLS is off (seats_sip.tls)\n",
            **(self.records.asterisk_files() if self.records else {}),     # CDR and CEL into PostgreSQL
        }

    async def start(self) -> None:
        s = self.settings
        if s.redis.url:
            url = s.redis.url
        else:
            self.redis_server = RedisServer(self.run, port=s.network.redis_port or None,
                                            data_dir=self._redis_data_dir())
            await asyncio.to_thread(self.redis_server.start)
            url = self.redis_server.url
        # A dropped connection (Redis restarted) is retried on a fresh one, briefly;
        # a longer outage surfaces as an error and calls take the fallback.
        # max_connections: redis-py 8 caps a pool at 100 by default and each command in flight holds one; with
        # 300 concurrent SIP calls on 2 loaded cores their commands piled up past 100 and failed with
        # "Too many connections" (`hotline bench sip`). Beyond the cap a command still fails fast.
        self.redis = aioredis.from_url(
            url, decode_responses=True, health_check_interval=10, socket_connect_timeout=2, socket_timeout=5,
            max_connections=REDIS_MAX_CONNECTIONS,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError])
        await self.redis.ping()
        from hotline.records_up import RecordsUp

        self.records = await RecordsUp.start(s, self.run, persistent=self.persistent_redis)

        self.prompts = PromptCache(self.run / "sounds", TTSVoice(voice=s.prompts.voice, speed=s.prompts.speed))
        if self.wire:
            self.handlers = {**self.handlers, **(await self.wire(self))}
        self.agi_secret = secret_file(s.path(s.storage.data_dir) / FASTAGI_SECRET_FILE)
        self.agi = FastAGIServer(self.handlers, host=s.fastagi.host or s.network.host, port=s.network.fastagi_port,
                                 header_timeout=s.fastagi.header_timeout_s,
                                 drain_timeout=s.fastagi.drain_timeout_s, secret=self.agi_secret,
                                 allowed_peers=_addresses(s.fastagi.allowed_peers))
        await self.agi.start()

        ports = AsteriskPorts.free()
        if s.network.ami_port:
            ports.ami = s.network.ami_port
        if s.network.sip_port:
            ports.sip = s.network.sip_port
        sip = s.network.sip
        self.asterisk = AsteriskServer(self.run, ports, sip_bind=sip.sip_bind, rtp_ports=(sip.rtp_start, sip.rtp_end),
                                       transport_extra=transport_options(sip))
        if s.seats_sip.tls:
            self.tls_port = s.seats_sip.tls_port or free_port()
            if s.seats_sip.tls_cert:
                self.tls_files = (str(s.path(s.seats_sip.tls_cert)), str(s.path(s.seats_sip.tls_key)))
            else:
                cert, key = await asyncio.to_thread(ensure_self_signed,
                                                    s.path(s.storage.data_dir) / "tls")
                self.tls_files = (str(cert), str(key))
        self.asterisk.render(await asyncio.to_thread(self.generated_config))
        await asyncio.to_thread(self.asterisk.start)

        self.ami = AMIClient("127.0.0.1", ports.ami, self.asterisk.ami_user, self.asterisk.ami_secret,
                             on_reconnect=self.on_ami_reconnect)
        await self.ami.connect()

        app = create_app(self.status, redis=self.redis, routes=self.web_routes,
                         config=web_config(s))
        app.cleanup_ctx.extend(self.web_contexts)
        self.web_runner = web.AppRunner(app, access_log=None)
        await self.web_runner.setup()
        self.web_port = s.network.web_port or free_port()
        await web.TCPSite(self.web_runner, s.web.host or s.network.host, self.web_port).start()
        if self.started:
            await self.started(self)

    def status(self) -> dict[str, Any]:
        return {
            "asterisk": {"ok": bool(self.asterisk and self.asterisk.alive())},
            "ami": {"ok": bool(self.ami and self.ami.connected)},
            "fastagi": {"ok": self.agi is not None, "active_calls": self.agi.active_calls if self.agi else 0},
        }

    def ready_info(self) -> dict[str, Any]:
        assert self.asterisk and self.agi
        return {
            "run": str(self.run),
            "web": f"http://{self.settings.web.host or self.settings.network.host}:{self.web_port}/",
            "ports": {"web": self.web_port, "fastagi": self.agi.port, "ami": self.asterisk.ports.ami,
                      "sip": self.asterisk.ports.sip,
                      "redis": self.redis_server.port if self.redis_server else None,
                      "postgres": self.records.server.port if self.records and self.records.server else None},
            # without its password: this goes to the READY line; ready.json (0600) has the full URL
            "redis": redact_url(self.redis_url),
            "asterisk_conf": str(self.asterisk.conf),
            "ami_user": self.asterisk.ami_user,
            "pids": {"asterisk": self.asterisk.process.pid if self.asterisk.process else None,
                     "redis": self.redis_server.process.pid if self.redis_server else None,
                     "postgres": self.records.server.process.pid if self.records and self.records.server else None,
                     "controller": os.getpid()},
        }

    async def republish_config(self) -> dict[str, str]:
        """Render the generated config again (seats, lanes, prompts changed) and reload it live.

        Rendering happens first: if it fails, the files on disk (the last good
        ones) stay and the error is raised. Then each file is replaced
        atomically and Asterisk reloads the dialplan, PJSIP and queues over
        AMI; calls in progress keep their channels.
        """
        assert self.asterisk and self.ami
        written = await asyncio.to_thread(publish, self.asterisk.etc, self.generated_config)
        # over the control socket (a local, 0660 socket in the run folder): the AMI user has no
        # system/config class, so a leaked AMI secret cannot reload or rewrite anything
        for command in RELOAD_COMMANDS:
            if await asyncio.to_thread(self.asterisk.cli, command) is None:
                raise RuntimeError(f"asterisk: {command!r} failed")
        return written

    def write_ready(self, info: dict[str, Any]) -> None:
        """RUN/ready.json (mode 0600: it holds the AMI secret) and run/current -> RUN, for `hotline call`."""
        data = {**info, "ami_secret": self.asterisk.ami_secret if self.asterisk else None,
                "redis": self.redis_url,
                "database": (self.records.server.admin_dsn if self.records.server else self.settings.database.url)
                if self.records else None}
        path = self.run / "ready.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, ensure_ascii=False)
        link = self.run.parent / "current"
        tmp = self.run.parent / f".current-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.run.name)
        os.replace(tmp, link)

    async def stop(self) -> None:
        """Reverse order; each step runs even if an earlier one failed."""
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        for task in self.background:
            task.cancel()
        if self.background:             # bounded: a loop that lost its cancellation must not hold the stop
            _, stuck = await asyncio.wait(self.background, timeout=BACKGROUND_STOP_S)
            for task in stuck:
                log.error("background task %s did not stop within %g s; left behind", task.get_name(),
                          BACKGROUND_STOP_S)
        if self.web_runner:
            steps.append(("web", self.web_runner.cleanup))
        if self.agi:
            steps.append(("fastagi", self.agi.stop))
        for closer in self.closers:
            steps.append((getattr(closer, "__qualname__", "closer"), closer))
        if self.ami:
            steps.append(("ami", self.ami.close))
        if self.asterisk:
            steps.append(("asterisk", lambda: asyncio.to_thread(self.asterisk.stop)))
        if self.records:
            steps.append(("records", self.records.stop))
        if self.redis:
            steps.append(("redis client", self.redis.aclose))
        if self.redis_server:
            steps.append(("redis", lambda: asyncio.to_thread(self.redis_server.stop)))
        for name, step in steps:
            task = asyncio.ensure_future(step())
            # bounded: a step that hangs (or swallows its cancellation) must not hold the stop;
            # asyncio.wait never cancels, so a stuck step is reported and left behind
            limit = STEP_STOP_S + (self.settings.fastagi.drain_timeout_s if name == "fastagi" else 0.0)
            done, _ = await asyncio.wait({task}, timeout=limit)
            if not done:
                log.error("stopping %s did not finish within %g s; going on", name, limit)
                task.add_done_callback(_swallow)
                continue
            try:
                task.result()
            except Exception:
                log.exception("stopping %s failed", name)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def web_config(s: Settings) -> WebConfig:
    """The web layer's settings from the hotline's `web:` section."""
    w = s.web
    return WebConfig(cookie_secure=w.cookie_secure, session_idle_s=w.session_idle_s,
                     session_absolute_s=w.session_absolute_s, metrics_token=w.metrics_token,
                     trust_forwarded=w.trust_forwarded,
                     trusted_proxies=_addresses(w.trusted_proxies))


FASTAGI_SECRET_FILE = "fastagi.secret"


def _addresses(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


RELOAD_COMMANDS = ("dialplan reload", "module reload res_pjsip.so", "module reload app_queue.so")


def _swallow(task: asyncio.Future) -> None:
    """Collect the outcome of a stop step that was left behind, so it is not reported as unretrieved."""
    if not task.cancelled():
        task.exception()
