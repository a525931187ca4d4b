"""place_call's own accounting: when is a simulated call over (fake AMI, no Asterisk)."""
import asyncio
import time

from devstack.simcall import place_call
from pbx.ami import AMIEvent


class FakeAMI:
    """Delivers the events a scenario gives for the channel ids place_call asked for."""

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.subs = []

    def on_event(self, pattern, callback):
        self.subs.append(callback)
        return lambda: self.subs.remove(callback)

    async def originate(self, channel, *, channel_id, other_channel_id, **kw):
        async def later():
            await asyncio.sleep(0.01)
            for name, headers in self.scenario(channel_id, other_channel_id):
                for cb in list(self.subs):
                    cb(AMIEvent(name, headers))
        asyncio.get_running_loop().create_task(later())
        return {"Response": "Success"}


async def _timed(scenario):
    t = time.monotonic()
    r = await place_call(FakeAMI(scenario), timeout=5)
    return r, time.monotonic() - t


async def test_an_originate_that_fails_before_any_channel_ends_the_wait():
    r, took = await _timed(lambda a, b: [("OriginateResponse", {"Response": "Failure", "Uniqueid": a})])
    assert not r.completed and took < 1                          # not the 5 s timeout
    assert r.named("OriginateResponse")[0].get("Response") == "Failure"


async def test_a_failed_originate_waits_for_the_half_still_up():
    def scenario(a, b):
        return [("Newchannel", {"Uniqueid": a}), ("Newchannel", {"Uniqueid": b}),
                ("Hangup", {"Uniqueid": b}), ("OriginateResponse", {"Response": "Failure", "Uniqueid": a}),
                ("Hangup", {"Uniqueid": a})]
    r, took = await _timed(scenario)
    assert r.completed and took < 1


async def test_a_failure_with_a_half_never_hung_up_runs_to_the_timeout():
    def scenario(a, b):
        return [("Newchannel", {"Uniqueid": a}), ("OriginateResponse", {"Response": "Failure", "Uniqueid": a})]
    t = time.monotonic()
    r = await place_call(FakeAMI(scenario), timeout=0.5)
    assert not r.completed and time.monotonic() - t >= 0.5


async def test_both_halves_hung_up_is_a_completed_call():
    def scenario(a, b):
        return [("Newchannel", {"Uniqueid": a}), ("Newchannel", {"Uniqueid": b}),
                ("OriginateResponse", {"Response": "Success", "Uniqueid": a}),
                ("Hangup", {"Uniqueid": b}), ("Hangup", {"Uniqueid": a})]
    seen = []
    r = await place_call(FakeAMI(scenario), timeout=5, on_placed=seen.append)
    assert r.completed and seen == [r]
