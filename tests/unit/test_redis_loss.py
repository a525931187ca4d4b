"""Redis losing its data under a running controller (agents/resync.py): the logins put back from
the records' seat history (pure), and the watch that notices the loss once and rebuilds."""
from __future__ import annotations

from agents.resync import RedisLossWatch, restored_logins


def test_logins_put_back_as_the_records_last_saw_them():
    last = [{"seat": "1001", "operator": "8001", "event": "ready", "reason": None},
            {"seat": "1002", "operator": "8002", "event": "pause", "reason": "小休"},
            {"seat": "1003", "operator": "8003", "event": "logout", "reason": None},
            {"seat": "1004", "operator": "8004", "event": "login", "reason": "培训"},
            {"seat": "1005", "operator": "8005", "event": "login", "reason": None},
            {"seat": "1006", "operator": "8006", "event": "wrap_up", "reason": None},
            {"seat": "1007", "operator": None, "event": "ready", "reason": None}]
    assert restored_logins(last) == [("1001", "8001", None), ("1002", "8002", "小休"), ("1004", "8004", "培训"),
                                     ("1005", "8005", None), ("1006", "8006", None)]


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def exists(self, key: str) -> int:
        return int(key in self.data)

    async def set(self, key: str, value: str) -> None:
        self.data[key] = value


async def test_the_loss_is_noticed_once_and_every_hook_runs_even_after_one_fails():
    redis, ran = FakeRedis(), []

    async def first():
        ran.append("first")
        raise RuntimeError("boom")

    async def second():
        ran.append("second")

    watch = RedisLossWatch(redis, "hotline:alive:n1", [first, second])
    await watch.mark()
    assert not await watch.check() and ran == []
    redis.data.clear()                                       # FLUSHALL
    assert await watch.check() and ran == ["first", "second"] and watch.lost == 1
    assert not await watch.check() and watch.lost == 1       # marked again: not rebuilt twice


class FakeServer(FakeRedis):
    def __init__(self) -> None:
        super().__init__()
        self.run_id = "a" * 40

    async def info(self, section: str) -> dict[str, str]:
        assert section == "server"
        return {"run_id": self.run_id}


async def test_another_server_answering_with_the_marker_still_there_rebuilds_once():
    """Sentinel promoted a replica (the marker replicated, the last writes maybe not), or Redis came
    back from its append-only file: the same rebuild runs, once per change of server."""
    redis, ran = FakeServer(), []

    async def hook():
        ran.append(redis.run_id)

    watch = RedisLossWatch(redis, "hotline:alive:n1", [hook])
    await watch.mark()
    assert not await watch.check() and not await watch.check() and ran == []
    redis.run_id = "b" * 40                                  # the replica, now master, has the marker
    assert await watch.check() and ran == ["b" * 40] and watch.lost == 1
    assert not await watch.check() and watch.lost == 1
