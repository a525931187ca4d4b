"""Tree versions on a real Redis."""
import pytest

from ivr.problems import Problem
from ivr.versions import VersionError, VersionStore


def validate(doc):
    return [Problem(path="entry", code="missing", message="required")] if "entry" not in doc else []


async def test_publish_rollback_history(redis_client):
    store = VersionStore(redis_client, validate)
    v1 = await store.publish({"entry": "a", "n": 1}, "admin1", "first")
    v2 = await store.publish({"entry": "a", "n": 2}, "admin2", "second")
    assert (v1.number, v2.number) == (1, 2)
    assert (await store.current()).number == 2
    assert await store.document(1) == {"entry": "a", "n": 1}
    v3 = await store.rollback(1, "admin1")
    assert v3.number == 3 and v3.rollback_of == 1 and v3.hash == v1.hash
    assert await store.current_number() == 3
    assert [v.number for v in await store.history()] == [1, 2, 3]


async def test_broken_tree_is_refused_and_current_untouched(redis_client):
    store = VersionStore(redis_client, validate)
    await store.publish({"entry": "a"}, "admin", "ok")
    with pytest.raises(VersionError) as err:
        await store.publish({"nodes": {}}, "admin", "broken")
    assert err.value.error_id == "tree_invalid"
    assert [p.path for p in err.value.problems] == ["entry"]
    assert await store.current_number() == 1
    assert await store.document(1) == {"entry": "a"}


async def test_unchanged_publish_refused_and_drafts_kept(redis_client):
    store = VersionStore(redis_client, validate)
    await store.publish({"entry": "a"}, "admin")
    with pytest.raises(VersionError) as err:
        await store.publish({"entry": "a"}, "admin")
    assert err.value.error_id == "unchanged"
    problems = await store.save_draft({"nodes": {}}, "admin")
    assert problems and (await store.draft())[1][0]["path"] == "entry"
    with pytest.raises(VersionError):
        await store.document(99)
