"""Calls out: the one gate every number passes before it is dialled.

``Outbound.approve(raw, purpose)`` applies the dialling policy
(agents/dialpolicy.py), counts the call against the per-number and per-hour
limits in Redis (one Lua step: checked and counted together, so two
controllers cannot both take the last slot), logs a refusal with the number
masked, and gives back a Verdict whose ``number`` is the only thing that may
reach a dial string (``dial_string``). The dialplan filters it again
(``hotline-out`` in dialplan/outbound.py): nothing caller-controlled is parsed
there as dial options.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agents.dialpolicy import DialPolicy, Refusal, Verdict, check, is_canonical
from agents.errors import AgentsError
from kernel.privacy import mask_number
from kernel.resources import package_text
from pbx.contract import OUT as OUT_CONTEXT

log = logging.getLogger("hotline.agents.outbound")

_COUNT = package_text("agents", "lua/outbound_count.lua")


class NumberRefused(AgentsError):
    """A number the dialling policy does not allow (``reason``: a Refusal value; ``prompt``: zh-CN)."""

    error_id = "number_refused"


def dial_string(number: str) -> str:
    """The only dial string a number out becomes: the hotline-out context, which picks the trunk."""
    if not is_canonical(number):
        raise NumberRefused("not a checked number", reason=str(Refusal.NOT_DIGITS))
    return f"Local/{number}@{OUT_CONTEXT}"


class DialLimiter:
    def __init__(self, redis, prefix: str = "hotline", clock: Callable[[], float] = time.time) -> None:
        self.r = redis
        self.prefix = prefix
        self.clock = clock
        self._count = redis.register_script(_COUNT)

    async def take(self, number: str, per_number: int, per_hour: int) -> Refusal | None:
        hour = int(self.clock() // 3600)
        ok, why, *_ = await self._count(keys=[f"{self.prefix}:dial:num:{number}:{hour}",
                                              f"{self.prefix}:dial:all:{hour}"],
                                        args=[per_number, per_hour, 3700])
        if ok:
            return None
        return Refusal(why.decode() if isinstance(why, bytes) else why)


class Outbound:
    def __init__(self, policy: DialPolicy, limiter: DialLimiter | None) -> None:
        self.policy = policy
        self.limiter = limiter

    def check(self, raw) -> Verdict:
        """The policy alone (no counting): for a number the caller keys in before it is used."""
        return check(self.policy, raw)

    async def approve(self, raw, purpose: str, *, ref: str = "") -> Verdict:
        """The verdict on dialling ``raw`` now (counted when allowed). ``purpose``: callback, transfer,
        supervisor, seat; ``ref``: the call id or seat, for the log."""
        v = check(self.policy, raw)
        if v.ok and v.limited and self.limiter is not None and v.number is not None:
            why = await self.limiter.take(v.number, self.policy.per_number_per_hour, self.policy.per_hour)
            if why is not None:
                v = v.refused(why)
        if not v.ok:
            log.warning("dial out refused (%s, %s%s): %s", purpose, v.refusal,
                        f", {ref}" if ref else "", mask_number(_printable(v.raw)))
        return v

    async def require(self, raw, purpose: str, *, ref: str = "") -> str:
        """The canonical number, or NumberRefused."""
        v = await self.approve(raw, purpose, ref=ref)
        if not v.ok:
            raise NumberRefused(f"number refused: {v.refusal}", reason=str(v.refusal), prompt=v.prompt)
        return v.number or ""


def _printable(raw: str) -> str:
    """A refused value for the log: control characters shown escaped, so it cannot forge a log line."""
    return raw.encode("unicode_escape").decode("ascii")[:40]
