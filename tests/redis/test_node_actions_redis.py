"""The node-action channel on a real Redis: node B asks node A, A's task runs the handler and replies;
a refusal comes back with its status; a node that does not answer is NodeUnavailable in time."""
import asyncio
import json
import time

import pytest

from agents.node_actions import ActionRefused, BadAction, NodeActions, NodeUnavailable
from agents.transfer import NotOnCall


@pytest.fixture
async def nodes(redis_client):
    a, b = NodeActions(redis_client, "node-a", prefix="hl"), NodeActions(redis_client, "node-b", prefix="hl")
    ran: list[tuple[str, dict]] = []

    async def hangup(p):
        ran.append(("a", p))
        if p["seat"] == "1009":
            raise NotOnCall("seat 1009 has no call to hang up", seat="1009")
        return {"call_id": p.get("call_id"), "leg": p["leg"], "node": "node-a"}

    a.register("hangup", hangup)
    b.register("hangup", lambda p: pytest.fail("B's handler must not run for A's call"))
    task = asyncio.create_task(a.run())
    yield a, b, ran
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_action_runs_on_the_node_that_owns_the_call(nodes):
    a, b, ran = nodes
    out = await b.call("node-a", "hangup", {"seat": "1001", "call_id": "c1", "leg": "seat"}, timeout=5)
    assert out == {"call_id": "c1", "leg": "seat", "node": "node-a"}
    assert ran == [("a", {"seat": "1001", "call_id": "c1", "leg": "seat"})]
    assert a.served == 1
    out = await a.call("node-a", "hangup", {"seat": "1002", "leg": "target"})   # its own: run in place
    assert out["leg"] == "target" and a.served == 1


async def test_the_owners_refusal_comes_back_with_its_status(nodes):
    _, b, _ = nodes
    with pytest.raises(ActionRefused) as e:
        await b.call("node-a", "hangup", {"seat": "1009", "leg": "seat"}, timeout=5)
    assert e.value.error_id == "not_on_call" and e.value.status == 409


async def test_a_node_that_does_not_answer_is_unavailable_in_time(nodes, redis_client):
    _, b, _ = nodes
    t0 = time.monotonic()
    with pytest.raises(NodeUnavailable) as e:
        await b.call("node-gone", "hangup", {"seat": "1001", "leg": "seat"}, timeout=1)
    assert 0.9 <= time.monotonic() - t0 < 4
    assert e.value.status == 503 and e.value.message == "通话所在节点未响应，请稍后再试"
    left = [json.loads(x) for x in await redis_client.lrange("hl:actions:node-gone", 0, -1)]
    assert [r["action"] for r in left] == ["hangup"]
    assert 0 < await redis_client.ttl("hl:actions:node-gone") <= 60     # a dead node's list does not stay


async def test_a_request_past_its_deadline_is_not_run(nodes, redis_client):
    a, _, ran = nodes
    stale = NodeActions(redis_client, "node-c", prefix="hl", clock=lambda: time.time() - 30)
    with pytest.raises(NodeUnavailable):           # its deadline was 30 s ago when A takes it
        await stale.call("node-a", "hangup", {"seat": "1001", "leg": "seat"}, timeout=1)
    assert ran == []


async def test_unknown_actions_are_refused_before_anything_is_sent(nodes, redis_client):
    _, b, _ = nodes
    with pytest.raises(BadAction):
        await b.call("node-a", "originate", {"seat": "1001"})
    with pytest.raises(ValueError):
        b.register("originate", lambda p: None)
    assert await redis_client.llen("hl:actions:node-a") == 0
