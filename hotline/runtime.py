"""Bring the whole hotline up on this machine and down again.

Order up: Redis -> the records database -> the features loaded
(hotline/features, given the AMI client and Asterisk objects, not yet
connected) -> controller's FastAGI server (its port goes into the dialplan) ->
Asterisk with the generated config -> AMI -> web -> the features' AMI
subscriptions, start hooks and background tasks. Down: the background tasks,
web, the FastAGI drain, the features' closers (in reverse), AMI, Asterisk,
the records, Redis.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from aiohttp import web

from devstack.asterisk_server import AsteriskInstall, AsteriskPorts, AsteriskServer
from devstack.procs import RedisServer, free_port, secret_file, try_lock
from dialplan import hotline as dp
from dialplan.kamailio import node_trunk
from dialplan.model import Context
from dialplan.outbound import from_trunks
from dialplan.publish import publish
from dialplan.seats import render_tls_transport
from dialplan.trunks import render_trunks, transport_options
from hotline.features.base import AmiHandler, Deps, EventKinds, Feature
from hotline.features.routing import SeatDialplan
from hotline.settings import REPO, Settings
from hotline.tls import ensure_self_signed
from kernel.redis import redact_url, redis_client
from kernel.tasks import TaskSet
from pbx.agi_server import FastAGIServer, Handler
from pbx.ami import AMIClient
from recordings.tts import PromptCache, TTSVoice
from web.app import create_app
from web.config import WebConfig

if TYPE_CHECKING:
    from hotline.app import Hotline
    from hotline.records_up import RecordsUp

log = logging.getLogger("hotline.runtime")
STEP_STOP_S = 30.0           # each stop step (web, FastAGI drain, closers, AMI ...)
BACKGROUND_STOP_S = 10.0       # each background loop gets this long to end after its cancel


def asterisk_install(s: Settings, run: Path) -> AsteriskInstall:
    """The Asterisk `asterisk.root` names (none: the system's), with the folders its configuration
    refers to: the run folder, data, recordings, config, and the code and Python of the EAGI reader."""
    root = s.path(s.asterisk.root) if s.asterisk.version == 22 else None
    binds = (run, s.path(s.storage.data_dir), s.recordings_dir, s.path("config"), REPO,
             Path(sys.prefix), Path(sys.base_prefix), *(s.path(str(b)) for b in s.asterisk.binds))
    return AsteriskInstall.from_root(root, binds)


def new_run_dir(settings: Settings, tag: str = "up") -> Path:
    root = settings.path(settings.hotline.run_root)
    root.mkdir(parents=True, exist_ok=True)
    run = root / f"{tag}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    return run


ExtraContexts = Callable[[str, PromptCache], tuple[Context, ...]]


@dataclass
class Runtime:
    """The running pieces; built by `start`, torn down by `stop`. Made by `hotline.app.compose`."""

    settings: Settings
    run: Path
    # The composition's loader (hotline.app.load): called once Redis answers and before the FastAGI
    # server starts; None: no features (Redis, Asterisk, AMI and the web app only).
    load: Callable[[Deps], Awaitable[Hotline]] | None = None
    node: str = ""                                  # this controller's id (agents/nodes.py)
    # More dialplan contexts (benchmarks, tests): f(agi_url, prompts) -> contexts.
    extra_contexts: ExtraContexts | None = None
    persistent_redis: bool = True
    # AMI event classes this process's session asks for: "on" (all its user may read: tools and
    # benchmarks that watch calls on it); the controller itself asks only for what it uses
    # (pbx.ami.CONTROLLER_EVENTS, hotline/app.py compose).
    ami_events: str = "on"
    # MixMonitor writes each direction too (dialplan/hotline.py DialplanSpec.record_directions); the
    # controller's live transcription listens with ChanSpy, so `hotline up` turns it off (compose)
    record_directions: bool = True
    hotline: Hotline | None = None                  # the features' bundles, once loaded
    tasks: TaskSet = field(default_factory=lambda: TaskSet("runtime"))     # every background task
    handlers: dict[str, Handler] = field(default_factory=dict)  # what the FastAGI server serves (set by start)
    # Kamailio's ctl socket when it is the seats' registrar (edge.registrar): their phones' state from its
    # location (agents/edge_phones.py); None: not polled
    edge_ctl: Path | None = None
    serve_web: bool = True                          # False: a further node of `hotline up --nodes` (one web app)
    tls_port: int = 0                               # seats' SIP/TLS port (0: TLS off)
    tls_files: tuple[str, str] | None = None        # (certificate, key)
    _lock: Any = None
    redis_server: RedisServer | None = None
    agi_secret: str = ""
    redis: aioredis.Redis | None = None
    records: RecordsUp | None = None  # the records database (None: off)
    agi: FastAGIServer | None = None
    asterisk: AsteriskServer | None = None
    ami: AMIClient | None = None
    web_runner: web.AppRunner | None = None
    web_port: int = 0
    prompts: PromptCache | None = None

    @property
    def features(self) -> tuple[Feature, ...]:
        return self.hotline.features if self.hotline else ()

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
        return self.redis_server.url if self.redis_server else self.settings.redis.client_url

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
        seats = self.hotline.seat_dialplan if self.hotline else SeatDialplan()
        spec = dp.DialplanSpec(
            agi_url=self.agi_url,
            prompts={"fallback": str(self.prompts.ensure(s.prompts.fallback)),
                     "sorry": str(self.prompts.ensure(s.prompts.sorry)),
                     "line_silence": str(self.prompts.silence(10)),
                     "demo_reply": str(self.prompts.ensure("您好，12345热线，工号为您服务，请讲。"))},
            fallback_queue_timeout_s=s.fallback.queue_timeout_s,
            fallback_members=seats.fallback_members,
            out_trunks=from_trunks(s.trunks, s.dialling.caller_id),
            seat_out=seats.seat_out,
            record_directions=self.record_directions,
            out_international=tuple(p for p in s.dialling.policy.allow_prefixes if p.startswith("00")),
            extra=self.extra_contexts(self.agi_url, self.prompts) if self.extra_contexts else (),
        )
        return {
            "extensions_hotline.conf": dp.render(spec),
            "queues_hotline.conf": dp.render_fallback_queue(spec),
            "pjsip_seats.conf": seats.pjsip,
            # behind Kamailio (edge:) the carriers' calls come from its address: one more trunk for them
            "pjsip_trunks.conf": render_trunks(s.trunks + ((node_trunk(s.edge, s.trunks),) if s.edge else ())),
            "pjsip_tls.conf": render_tls_transport(s.network.sip.sip_bind, self.tls_port, *self.tls_files)
            if self.tls_port and self.tls_files else "; seats' SIP/TLS is off (seats_sip.tls)\n",
            **(self.records.asterisk_files() if self.records else {}),     # CDR and CEL into PostgreSQL
        }

    async def start(self) -> None:
        s = self.settings
        if s.redis.client_url:            # one server, or the master the sentinels name (kernel/redis.py)
            url = s.redis.client_url
        else:
            self.redis_server = RedisServer(self.run, port=s.network.redis_port or None,
                                            data_dir=self._redis_data_dir())
            await asyncio.to_thread(self.redis_server.start)
            url = self.redis_server.url
        self.redis = redis_client(url)
        await self.redis.ping()
        from hotline.records_up import RecordsUp

        self.records = await RecordsUp.start(s, self.run, persistent=self.persistent_redis, node=self.node)

        self.prompts = PromptCache(self.run / "sounds", TTSVoice(voice=s.prompts.voice, speed=s.prompts.speed))
        # The Asterisk and AMI client objects first (started and connected below): the features get them
        ports = AsteriskPorts.free()
        if s.network.ami_port:
            ports.ami = s.network.ami_port
        if s.network.sip_port:
            ports.sip = s.network.sip_port
        sip = s.network.sip
        self.asterisk = AsteriskServer(self.run, ports, sip_bind=sip.sip_bind, rtp_ports=(sip.rtp_start, sip.rtp_end),
                                       transport_extra=transport_options(sip), install=asterisk_install(s, self.run),
                                       # nodes behind one edge share the Redis: their call ids must differ
                                       system_name=f"hotline-{self.node}" if s.edge and self.node else "hotline")
        self.ami = AMIClient("127.0.0.1", ports.ami, self.asterisk.ami_user, self.asterisk.ami_secret,
                             on_reconnect=self._ami_reconnected if self.load else None, events=self.ami_events)
        if self.load:
            self.hotline = await self.load(Deps(settings=s, run=self.run, redis=self.redis, prompts=self.prompts,
                                                ami=self.ami, asterisk=self.asterisk, tasks=self.tasks,
                                                node=self.node, records=self.records))
        self.agi_secret = secret_file(s.path(s.storage.data_dir) / FASTAGI_SECRET_FILE)
        self.handlers = self.agi_handlers()
        self.agi = FastAGIServer(self.handlers, host=s.fastagi.host or s.network.host,
                                 port=s.network.fastagi_port, header_timeout=s.fastagi.header_timeout_s,
                                 drain_timeout=s.fastagi.drain_timeout_s, secret=self.agi_secret,
                                 allowed_peers=_addresses(s.fastagi.allowed_peers))
        await self.agi.start()

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
        await self.ami.connect()

        if self.serve_web:
            await self._start_web()
        await self._started()

    async def _start_web(self) -> None:
        s = self.settings
        app = create_app(self.status, redis=self.redis, routes=[t for f in self.features for t in f.routes],
                         config=web_config(s),
                         # the audit trail also into the records database
                         audit_sink=self.records.writer.audit if self.records else None)
        app.cleanup_ctx.extend(c for f in self.features for c in f.web_contexts)
        self.web_runner = web.AppRunner(app, access_log=None)
        await self.web_runner.setup()
        self.web_port = s.network.web_port or free_port()
        await web.TCPSite(self.web_runner, s.web.host or s.network.host, self.web_port).start()

    def agi_handlers(self) -> dict[str, Handler]:
        """The FastAGI handlers by script name, from every feature (a test stack replaces some)."""
        return {name: h for f in self.features for name, h in f.agi.items()}

    async def _started(self) -> None:
        """Everything is up: the features' AMI subscriptions, start hooks, background tasks."""
        assert self.ami is not None
        # (AMIClient.subscribe's overloads type tuples of up to five classes; a feature's are any length)
        subscribe = cast(Callable[[EventKinds, AmiHandler], object], self.ami.subscribe)
        for f in self.features:
            for kinds, handler in f.ami:
                subscribe(kinds, handler)
        for f in self.features:
            for hook in f.on_start:
                await hook()
        for f in self.features:
            for name, factory in f.tasks:
                self.tasks.spawn(factory(), name=name, loop=True)
        if self.edge_ctl is not None and self.hotline is not None:
            from agents.edge_phones import EdgePhones
            from pbx.kamailio_rpc import EdgeLocation

            phones = EdgePhones(self.hotline.routing.seats, self.hotline.seat_dialplan.users,
                                EdgeLocation(self.edge_ctl).registered)
            self.tasks.spawn(phones.run(), name="edge-phones", loop=True)
        for f in self.features:
            for hook in f.after_start:
                await hook()

    async def _ami_reconnected(self) -> None:
        for f in self.features:
            for hook in f.on_ami_reconnect:
                await hook()

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
            "web": f"http://{self.settings.web.host or self.settings.network.host}:{self.web_port}/"
            if self.web_runner else None,
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
                if self.records else None,
                "asterisk_csv": str(self.records.csv_dir) if self.records and self.records.csv_dir else None}
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
        await self.tasks.stop(BACKGROUND_STOP_S)    # bounded: a loop that lost its cancel must not hold the stop
        if self.web_runner:
            steps.append(("web", self.web_runner.cleanup))
        if self.agi:
            steps.append(("fastagi", self.agi.stop))
        for feature in reversed(self.features):
            for closer in feature.closers:
                steps.append((getattr(closer, "__qualname__", "closer"), closer))
        if self.ami:
            steps.append(("ami", self.ami.close))
        if (asterisk := self.asterisk) is not None:
            steps.append(("asterisk", lambda: asyncio.to_thread(asterisk.stop)))
        if self.records:
            steps.append(("records", self.records.stop))
        if self.redis:
            steps.append(("redis client", self.redis.aclose))
        if (redis_server := self.redis_server) is not None:
            steps.append(("redis", lambda: asyncio.to_thread(redis_server.stop)))
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
