"""What a feature is given (`Deps`) and what it hands back (`Feature`)."""
from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from agents.nodes import check_node, default_node
from devstack.asterisk_server import AsteriskServer
from hotline.settings import Settings
from kernel.notify import LIVE_CHANNEL, LiveEvent
from kernel.tasks import TaskSet
from pbx.agi_server import Handler
from pbx.ami import AMIClient
from pbx.events import PbxEvent
from recordings.tts import PromptCache

if TYPE_CHECKING:
    from hotline.records_up import RecordsUp
    from web.access import RouteBundle, RouteTable

Hook = Callable[[], Awaitable[None]]
EventKinds = type[PbxEvent] | tuple[type[PbxEvent], ...]      # what `AMIClient.subscribe` takes
AmiHandler = Callable[[Any], Awaitable[None] | None]
TaskFactory = Callable[[], Coroutine[Any, Any, Any]]
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def data_dir(settings: Settings) -> Path:
    d = settings.path(settings.storage.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


def controller_node(s: Settings) -> str:
    """This controller's id among those sharing the Redis (agents/nodes.py): ``routing.node``, else
    the host name and a digest of the data folder (the same again after a restart)."""
    if s.routing.node:
        return check_node(s.routing.node)
    return default_node(socket.gethostname(), str(data_dir(s).resolve()))


@dataclass(frozen=True)
class Deps:
    """The clients and settings every feature may use; built by the runtime once Redis answers.
    The AMI client and the Asterisk server exist (not yet connected, not yet started)."""

    settings: Settings
    run: Path
    redis: aioredis.Redis
    prompts: PromptCache
    ami: AMIClient
    asterisk: AsteriskServer
    tasks: TaskSet
    node: str
    records: RecordsUp | None = None          # the records database (PostgreSQL), or None

    @property
    def config_dir(self) -> Path:
        return self.settings.path("config")

    async def say(self, text: str) -> str:
        """A prompt for `text` (synthesised once, cached): its path for Asterisk."""
        return str(await self.prompts.ensure_async(text))

    async def publish(self, event: LiveEvent) -> None:
        """An event to the live channel (consoles, wallboards); lost when Redis is down."""
        with contextlib.suppress(RedisError):
            await self.redis.publish(LIVE_CHANNEL, event.to_json())


@dataclass(kw_only=True)
class Feature:
    """What the composition root runs for a feature. Its own services are the subclass's fields."""

    agi: dict[str, Handler] = field(default_factory=dict)        # FastAGI handlers by script name
    routes: list[RouteTable | RouteBundle] = field(default_factory=list)   # web routes (bundles: with services)
    web_contexts: list[CleanupCtx] = field(default_factory=list)  # aiohttp cleanup contexts
    ami: list[tuple[EventKinds, AmiHandler]] = field(default_factory=list)   # typed AMI subscriptions
    tasks: list[tuple[str, TaskFactory]] = field(default_factory=list)  # background loops, by name
    on_start: list[Hook] = field(default_factory=list)       # all up, before the background tasks
    after_start: list[Hook] = field(default_factory=list)    # after the background tasks started
    on_ami_reconnect: list[Hook] = field(default_factory=list)
    closers: list[Hook] = field(default_factory=list)        # at stop (features in reverse order)
