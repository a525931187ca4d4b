"""Broken trees are refused with every problem and its path; the running
version stays; a 10,000-node tree validates and publishes in under 2 s."""
import time
from pathlib import Path

import pytest
import yaml

from ivr.trees import TreeSource
from ivr.versions import VersionError, VersionStore, publish_text

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def store_for(redis_client, base=DATA):
    return VersionStore(redis_client, TreeSource.validator(base), name="t")


@pytest.mark.parametrize("name, expected_path", [
    ("syntax_error.yaml", ""),
    ("five_problems.yaml", "nodes.menu.options.2"),
    ("bad_list.yaml", "lists.vips.line.3"),
])
async def test_broken_tree_refused_running_version_untouched(redis_client, name, expected_path):
    store = store_for(redis_client)
    good = await publish_text(store, (DATA / "ivr" / "all_types.yaml").read_text(encoding="utf-8"), "admin", "good")
    with pytest.raises(VersionError) as err:
        await publish_text(store, (DATA / "ivr" / name).read_text(encoding="utf-8"), "admin", "broken")
    paths = [p.path for p in err.value.problems]
    assert err.value.error_id == "tree_invalid" and paths
    assert any(p.startswith(expected_path) for p in paths), paths
    assert await store.current_number() == good.number
    assert [v.number for v in await store.history()] == [good.number]


async def test_five_problems_all_reported(redis_client):
    store = store_for(redis_client)
    with pytest.raises(VersionError) as err:
        await publish_text(store, (DATA / "ivr" / "five_problems.yaml").read_text(encoding="utf-8"), "admin")
    assert len(err.value.problems) == 5


async def test_oversized_document_refused(redis_client):
    store = store_for(redis_client)
    big = "# padding\n" * (5 * 1024 * 1024 // 10) + (DATA / "ivr" / "all_types.yaml").read_text(encoding="utf-8")
    with pytest.raises(VersionError) as err:
        await publish_text(store, big.encode(), "admin")
    assert [p.code for p in err.value.problems] == ["too_large"]
    assert await store.current_number() is None


async def test_ten_thousand_nodes_publish_under_two_seconds(redis_client):
    nodes = {f"n{i}": {"type": "play", "prompt": {"text": f"提示{i}"}, "next": f"n{i + 1}"} for i in range(9999)}
    nodes["n9999"] = {"type": "queue", "lane": "general"}
    doc = {"version": 1, "name": "big", "entry": "n0", "lanes": {"general": {"label": "综合", "priority": 1}},
           "nodes": nodes}
    text = yaml.safe_dump(doc, allow_unicode=True)
    store = store_for(redis_client)
    t = time.perf_counter()
    info = await publish_text(store, text, "admin", "big")
    assert time.perf_counter() - t < 2.0
    assert info.number == 1
