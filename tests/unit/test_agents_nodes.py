"""Node ownership (agents/nodes.py): which controller's resync may settle a call or a seat."""
import pytest

from agents.nodes import ALIVE, DEAD, OWN, UNOWNED, check_node, default_node, may_settle, owner_state

BEATS = {"a": 1000.0, "b": 995.0, "c": 900.0}


@pytest.mark.parametrize("owner, expected", [
    ("a", OWN),            # ours, whatever our beat says
    ("", UNOWNED),         # written before owners were recorded
    ("b", ALIVE),          # beat 5 s ago
    ("c", DEAD),           # beat 100 s ago
    ("d", DEAD),           # never beat
])
def test_owner_state(owner, expected):
    assert owner_state(owner, "a", BEATS, now=1000.0, dead_after_s=30) == expected


def test_dead_after_is_a_strict_limit():
    assert owner_state("b", "a", {"b": 970.0}, now=1000.0, dead_after_s=30) == ALIVE
    assert owner_state("b", "a", {"b": 969.9}, now=1000.0, dead_after_s=30) == DEAD


def test_only_a_live_other_node_keeps_its_items():
    assert [s for s in (OWN, UNOWNED, ALIVE, DEAD) if not may_settle(s)] == [ALIVE]


def test_default_node_is_stable_per_data_folder_and_a_valid_id():
    a = default_node("hl-01.example", "/srv/hotline/data")
    assert a == default_node("hl-01.example", "/srv/hotline/data")          # a restart: the same node
    assert a != default_node("hl-01.example", "/srv/hotline2/data")         # a second instance on the host
    assert a.startswith("hl-01.example-") and check_node(a) == a
    assert check_node(default_node("主机 1", "/d"))                          # odd host names still make an id


@pytest.mark.parametrize("bad", ["", "a b", "a:b", "-a", "x" * 101, "节点"])
def test_check_node_refuses_what_cannot_be_a_node_id(bad):
    with pytest.raises(ValueError, match="routing.node"):
        check_node(bad)
