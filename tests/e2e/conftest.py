"""The real stack for end-to-end tests: Redis, our FastAGI server, a private
Asterisk rendered from the project's templates, and an AMI client.

One stack per test session (Asterisk boots in well under a second, but
tearing it down per test would still dominate); each test installs the call
handler it needs on the shared FastAGI server through `stack.use(handler)`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from dialplan import hotline as dp
from hotline.procs import RedisServer
from pbx.agi import AGISession
from pbx.agi_server import FastAGIServer
from pbx.ami import AMIClient
from pbx.asterisk_server import AsteriskServer
from recordings.tts import PromptCache

Handler = Callable[[AGISession], Awaitable[None]]

pytestmark = pytest.mark.asterisk


@dataclass
class Stack:
    run: Path
    redis_server: RedisServer
    redis: aioredis.Redis
    agi: FastAGIServer
    asterisk: AsteriskServer
    ami: AMIClient
    prompts: PromptCache
    handler: Handler | None = None
    spec: dp.DialplanSpec | None = None
    extra_contexts: list = field(default_factory=list)

    def use(self, handler: Handler | None) -> None:
        self.handler = handler

    async def dispatch(self, session: AGISession) -> None:
        if self.handler is None:
            raise RuntimeError("no handler installed for this test")
        await self.handler(session)

    def generated(self, spec: dp.DialplanSpec | None = None) -> dict[str, str]:
        self.spec = spec or self.spec
        assert self.spec
        return {"extensions_hotline.conf": dp.render(self.spec),
                "queues_hotline.conf": dp.render_fallback_queue(self.spec),
                "pjsip_seats.conf": ""}


def default_spec(agi_port: int, prompts: PromptCache, **kw) -> dp.DialplanSpec:
    return dp.DialplanSpec(
        agi_url=f"agi://127.0.0.1:{agi_port}",
        prompts={"fallback": str(prompts.ensure("系统正在为您转接人工服务，请稍候。")),
                 "sorry": str(prompts.ensure("很抱歉，目前坐席繁忙。"))},
        fallback_queue_timeout_s=kw.pop("fallback_queue_timeout_s", 2),
        **kw,
    )


@pytest.fixture(scope="session")
async def stack(tmp_path_factory):
    run = tmp_path_factory.mktemp("stack")
    redis_server = RedisServer(run)
    await asyncio.to_thread(redis_server.start)
    client = aioredis.from_url(redis_server.url, decode_responses=True, socket_connect_timeout=1,
                               socket_timeout=3)
    prompts = PromptCache(run / "sounds")
    holder: dict[str, Stack] = {}

    async def dispatch(session: AGISession) -> None:
        await holder["stack"].dispatch(session)

    agi = FastAGIServer({"ivr": dispatch}, port=0, drain_timeout=3)
    await agi.start()
    asterisk = AsteriskServer(run)
    st = Stack(run, redis_server, client, agi, asterisk, None, prompts)  # type: ignore[arg-type]
    holder["stack"] = st
    asterisk.render(st.generated(default_spec(agi.port, prompts)))
    await asyncio.to_thread(asterisk.start)
    st.ami = AMIClient("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret)
    await st.ami.connect()
    try:
        yield st
    finally:
        await st.ami.close()
        await agi.stop()
        await asyncio.to_thread(asterisk.stop)
        await client.aclose()
        await asyncio.to_thread(redis_server.stop)


@pytest.fixture
async def fresh(stack):
    """The stack with a clean Redis and no handler from an earlier test."""
    await stack.redis.flushdb()
    stack.use(None)
    yield stack
    stack.use(None)
