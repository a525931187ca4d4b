"""The gate every call out passes, on a real Redis: per-number and per-hour limits counted
atomically, refusals logged masked, and a transfer to a refused number dialling nothing."""
from __future__ import annotations

import asyncio
import logging

import pytest

from agents.dialpolicy import DialPolicy, Refusal
from agents.outbound import DialLimiter, NumberRefused, Outbound, dial_string
from agents.transfer import parse_transfers
from agents.transfer_service import TransferService
from tests.redis.test_web_transfer import FakeAMI, env  # noqa: F401  (env: the fixture)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_per_number_limit_then_the_next_hour_opens_again(redis_client):
    clock = Clock()
    out = Outbound(DialPolicy(per_number_per_hour=3, per_hour=100), DialLimiter(redis_client, clock=clock))
    got = [await out.approve("13800001234", "callback") for _ in range(4)]
    assert [v.ok for v in got] == [True, True, True, False]
    assert got[3].refusal == Refusal.NUMBER_LIMIT and got[3].prompt
    assert (await out.approve("+8613900001111", "callback")).ok          # another number: its own count
    clock.t += 3600
    assert (await out.approve("013800001234", "callback")).ok            # same number, canonical form


async def test_hourly_limit_is_shared_and_checked_with_the_count_in_one_step(redis_client):
    out = Outbound(DialPolicy(per_number_per_hour=0, per_hour=5), DialLimiter(redis_client, clock=Clock()))
    two = Outbound(DialPolicy(per_number_per_hour=0, per_hour=5), DialLimiter(redis_client, clock=Clock()))
    numbers = [f"1380000{i:04d}" for i in range(12)]
    got = await asyncio.gather(*[(out if i % 2 else two).approve(n, "callback") for i, n in enumerate(numbers)])
    assert sum(v.ok for v in got) == 5                               # two controllers, never more than the limit
    assert {v.refusal for v in got if not v.ok} == {Refusal.HOURLY_LIMIT}


async def test_emergency_numbers_are_never_limited(redis_client):
    out = Outbound(DialPolicy(per_number_per_hour=1, per_hour=1), DialLimiter(redis_client, clock=Clock()))
    assert (await out.approve("13800001234", "callback")).ok
    assert not (await out.approve("13900001111", "callback")).ok        # the hour's one call is used
    assert all([(await out.approve("110", "transfer")).ok for _ in range(5)])


async def test_refused_numbers_are_logged_masked_and_escaped(redis_client, caplog):
    out = Outbound(DialPolicy(), DialLimiter(redis_client, clock=Clock()))
    caplog.set_level(logging.WARNING, logger="hotline.agents.outbound")
    for raw in ("4444&Local/5555", "1380000,,,,1234", "008821234567", "9" * 40, "13800001234\r\nforged line"):
        v = await out.approve(raw, "callback", ref="c9")
        assert not v.ok
    text = caplog.text
    for secret in ("Local", "&", "0000,", "8821234", "9999999", "00001234", "forged", "\r"):
        assert secret not in text, secret                     # masked: the middle of every value is hidden
    assert "444********5555" in text and "008*****4567" in text
    assert len(caplog.records) == 5 and all("dial out refused (callback" in r.getMessage() for r in caplog.records)
    with pytest.raises(NumberRefused) as e:
        await out.require("+442079460000", "transfer")
    assert e.value.details["reason"] == "international" and e.value.details["prompt"]


def test_dial_string_takes_only_checked_numbers():
    assert dial_string("110") == "Local/110@hotline-out"
    for bad in ("4444&Local/5555", "110\n", "", "1" * 21, "+8613800001234"):
        with pytest.raises(NumberRefused):
            dial_string(bad)


@pytest.mark.parametrize("number", ["008821234567", "16812345678", "+442079460000", "12590"])
async def test_transfer_to_a_refused_number_dials_nothing(env, redis_client, number):  # noqa: F811
    ami = FakeAMI()
    cfg = parse_transfers({"targets": [{"id": "bad", "name": "坏号码", "number": number, "three_way": True},
                                       {"id": "police", "name": "110 报警", "number": "110", "three_way": True}]})
    out = Outbound(DialPolicy(), DialLimiter(redis_client))
    transfers = TransferService(redis_client, ami, env.router, env.calls, cfg, dial="Local/{number}@hotline-out",
                                outbound=out)
    with pytest.raises(NumberRefused) as e:
        await transfers.request("c1", "1001", "7001", "bad", "three_way")
    assert e.value.error_id == "number_refused"
    assert ami.actions == []                                  # no hang-up, no redirect, no Originate
    assert await transfers.active("c1") is None
    t = await transfers.request("c1", "1001", "7001", "police", "three_way")
    assert ("originate", "Local/110@hotline-out", "hotline-conf", "external", f"xfer-{t.id}-c1") in ami.actions
