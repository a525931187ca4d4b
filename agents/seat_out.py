"""A seat phone dials an external number (hotline-seat-out's ``seat-out`` FastAGI handler).

The dialled extension goes through the dialling policy (agents/outbound.py,
counted against the limits); the checked number is handed back in
``HOTLINE_OUT_NUM`` (digits only) and the dialplan dials it through the
trunks. A refused number is not dialled and the operator hears why (zh-CN).
"""
from __future__ import annotations

import logging

from kernel.privacy import mask_number
from pbx import contract as V

log = logging.getLogger("hotline.agents.seat_out")


class SeatOutHandler:
    def __init__(self, outbound, say) -> None:
        self.outbound = outbound        # agents.outbound.Outbound
        self.say = say                  # async (text) -> prompt path

    async def __call__(self, session) -> None:
        env = session.env
        seat = env.callerid if env.callerid.isdigit() else "?"
        v = await self.outbound.approve(env.extension, "seat", ref=f"seat {seat}")
        if v.ok:
            await session.set_variable(V.OUT_NUM, v.number)
            log.info("seat %s dials out to %s", seat, mask_number(v.number))
            return
        await session.set_variable(V.OUT_NUM, "")
        await session.answer()
        await session.stream_file(await self.say(v.prompt))
