"""Controllers ("nodes") sharing one Redis: who owns a call or a seat, and is that node alive? Pure.

Every controller has a node id (setting ``routing.node``; by default the host
name and a digest of its data folder, so a restarted ``hotline up`` is the same
node again). A call records the node that put it in a lane (its FastAGI
session and its channels are on that node's Asterisk); a seat records the node
whose Asterisk its phone is on (demo seats: the node that logged them in).
Each node writes a heartbeat (the time of its last beat) to Redis.

A resync lines Redis up with what *its own* Asterisk says, so it may only
settle what that Asterisk can see: its own calls and seats, those with no owner
(written before owners were recorded), and those of a node whose heartbeat is
older than ``dead_after_s`` (that node is gone, and its Asterisk with it).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

OWN = "own"            # this node's
UNOWNED = "unowned"    # no owner recorded
ALIVE = "alive"        # another node's, and that node beats
DEAD = "dead"          # another node's, and it has not beaten for dead_after_s (or never)

_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def owner_state(owner: str, own: str, beats: Mapping[str, float], now: float, dead_after_s: float) -> str:
    """How ``own`` sees an item owned by ``owner``, given each node's last beat (seconds)."""
    if not owner:
        return UNOWNED
    if owner == own:
        return OWN
    last = beats.get(owner)
    if last is None or now - last > dead_after_s:
        return DEAD
    return ALIVE


def may_settle(state: str) -> bool:
    """A resync may change it (drop, requeue, end, free) only when no live node holds it."""
    return state != ALIVE


def default_node(hostname: str, data_dir: str) -> str:
    """The node id of a ``hotline up`` with no ``routing.node``: stable across restarts of the same instance."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", hostname).strip("-.") or "host"
    return f"{host[:60]}-{hashlib.sha256(data_dir.encode()).hexdigest()[:8]}"


def check_node(node: str) -> str:
    """A node id as given in the settings; ValueError with the rule when it cannot be one."""
    if not _NODE.fullmatch(node):
        raise ValueError(f"routing.node {node!r}: 1-100 characters of letters, digits, '.', '_', '-', "
                         "starting with a letter or digit")
    return node
