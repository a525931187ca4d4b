"""The Redis side of the routing engine: Lua scripts (agents/lua/*.lua, package data) run atomically by the store.

Every change of a seat or a call goes through one of three scripts, so the
ready sets, the waiting sets, the seat-transition log, the event stream and
the counters always change together and never half-way:

- ``SEAT``:  login, ready, pause, wrap-up, logout, forced changes (resync);
- ``CALL``:  enqueue, cancel, callback request, answered, ended, no answer
  (back to its place), callback attempt failed, drop, callback-list done;
- ``MATCH``: ends expired wrap-ups, puts deferred callbacks back in place,
  then makes up to ``limit`` routing decisions with the rules of
  ``agents/policy.py`` (the executable specification: keep them in step).

Calling convention: ``EVALSHA sha 0 prefix json [id]``. ``json`` carries the
time (``now``, whole ms) and the day/hour of the counters, computed by the
caller from its injected clock, so scripts never read Redis' clock. Scripts
answer with a JSON document. Keys are built from the prefix; on Redis Cluster
use a prefix with a hash tag (``{hotline}``) so they share one slot.

Key layout (P = prefix):
  P:seat:<id>        hash   state, operator, skills (JSON), since, idle, reason, call, lane, wrap_until, talk_ms
  P:seats            set    seats that ever logged in
  P:operator:<id>    string the seat an operator is logged in to
  P:ready:<lane>     zset   ready seats with the lane skill, score idle_ms*16 + (10 - level)
  P:wrapups          zset   seats in wrap-up, score = when it ends
  P:call:<id>        hash   lane, caller, arrival, priority, boost, score, callback, cb_number, node, state, seat...
  P:calls            set    active calls
  P:wait:<lane>      zset   waiting calls, score = -(priority + boost) * 2^42 + arrival_ms
  P:deferred         zset   callbacks waiting to retry, score = when they re-enter their place
  P:inbox:<node>     list   assignments (JSON) for the controller holding the call
  P:nodes            hash   node -> its last heartbeat (ms); written by the store, not the scripts (agents/nodes.py)
  P:seat_node        hash   seat -> the node whose Asterisk its phone is on (likewise)
  P:handle:<lane>    list   recent handling times (ms, newest first)
  P:missed           hash   call id -> JSON: the callback list (漏接回拨)
  P:events           stream every call and seat change (type, ts, json)
  P:seatlog          stream seat transitions for reporting
  P:stats:<day>:<scope> hash counters (field and field@HH), scope: all | lane:<id> | seat:<id>
"""
from __future__ import annotations

from kernel.resources import package_text


def _script(name: str) -> str:
    """One of the scripts beside this file (package data: agents/lua/*.lua)."""
    return package_text("agents", f"lua/{name}")


COMMON = _script("common.lua")

SEAT = COMMON + _script("seat.lua")

CALL = COMMON + _script("call.lua")

MATCH = COMMON + _script("match.lua")

SCRIPTS = {"seat": SEAT, "call": CALL, "match": MATCH}
