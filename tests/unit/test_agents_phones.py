"""Seat phones as the PBX reports them (device states, demo seats' channels) for the resync."""
from agents.service import PBX_IDLE, PBX_IN_USE, PBX_RINGING, PBX_UNAVAILABLE, phone_state, seat_phone_states


def test_device_states_map_to_phone_states():
    assert phone_state("NOT_INUSE") == PBX_IDLE
    assert phone_state("inuse") == PBX_IN_USE and phone_state("ONHOLD") == PBX_IN_USE
    assert phone_state("RINGINUSE") == PBX_RINGING
    assert phone_state("UNAVAILABLE") == PBX_UNAVAILABLE and phone_state("INVALID") == PBX_UNAVAILABLE
    assert phone_state("UNKNOWN") is None and phone_state(None) is None and phone_state("") is None


def test_seat_phone_states_from_devices_and_channels():
    channels = ["Local/1001@hotline-demo-seat-0000000a;1", "Local/12345@from-pstn-00000001;2",
                "Local/10011@hotline-demo-seat-0000000b;1"]
    got = seat_phone_states(["1001", "1002", "1005", "1006", "1007"], ["1001", "1002"],
                            {"1005": "UNAVAILABLE", "1006": "NOT_INUSE", "1007": "UNKNOWN"}, channels,
                            "hotline-demo-seat")
    assert got == {"1001": PBX_IN_USE, "1002": PBX_IDLE, "1005": PBX_UNAVAILABLE, "1006": PBX_IDLE}
