"""Degraded routing: the caller waits in Asterisk's own fallback queue.

Used when the Redis routing engine cannot take the call (Redis down, routing
disabled). The call still reaches a person, and the IVR goes on to the survey
when the operator hangs up.
"""
from __future__ import annotations

import logging

from ivr import engine as E
from pbx.contract import FALLBACK_QUEUE, QUEUESTATUS

log = logging.getLogger("hotline.agents.fallback")


class FallbackQueueRunner:
    def __init__(self, timeout_s: int = 300) -> None:
        self.timeout_s = timeout_s

    async def run(self, call, action: E.Queue) -> E.Event:
        s = call.session
        await s.set_variable(QUEUESTATUS, "")
        await s.exec("Queue", FALLBACK_QUEUE, "c", "", "", str(self.timeout_s))
        status = await s.get_variable(QUEUESTATUS)
        if status:
            log.info("call %s: fallback queue ended with %s", call.call_id, status)
            return E.Failed(status.lower())
        return E.Done()
