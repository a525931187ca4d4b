"""Seat phones as the PBX reports them (device states, demo seats' channels) for the resync."""
from agents.service import PBX_IDLE, PBX_IN_USE, PBX_RINGING, PBX_UNAVAILABLE, phone_state, seat_phone_states
from pbx.events import DeviceState


def state(text: str | None) -> str | None:
    return phone_state(DeviceState.parse(text))


def test_device_states_map_to_phone_states():
    assert state("NOT_INUSE") == PBX_IDLE
    assert state("inuse") == PBX_IN_USE and state("ONHOLD") == PBX_IN_USE
    assert state("RINGINUSE") == PBX_RINGING
    assert state("UNAVAILABLE") == PBX_UNAVAILABLE and state("INVALID") == PBX_UNAVAILABLE
    assert state("UNKNOWN") is None and state(None) is None and state("") is None and state("garbage") is None
    assert phone_state(None) is None
    assert all(phone_state(s) is not None for s in DeviceState if s is not DeviceState.UNKNOWN)


def test_seat_phone_states_from_devices_and_channels():
    channels = ["Local/1001@hotline-demo-seat-0000000a;1", "Local/12345@from-pstn-00000001;2",
                "Local/10011@hotline-demo-seat-0000000b;1"]
    got = seat_phone_states(["1001", "1002", "1005", "1006", "1007"], ["1001", "1002"],
                            {"1005": DeviceState.UNAVAILABLE, "1006": DeviceState.NOT_INUSE, "1007": DeviceState.UNKNOWN}, channels,
                            "hotline-demo-seat")
    assert got == {"1001": PBX_IN_USE, "1002": PBX_IDLE, "1005": PBX_UNAVAILABLE, "1006": PBX_IDLE}
