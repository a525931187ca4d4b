"""The published IVR tree after Redis lost its data under a running controller (ivr/trees.py
republish_lost): the tree new calls last got is published again, once, so the next calls are
answered by it and not by the fallback queue; nothing is published over a tree that is there."""
from __future__ import annotations

import shutil

from hotline.settings import REPO
from ivr.trees import TreeSource
from ivr.versions import VersionStore


async def test_the_tree_last_served_is_published_again_after_a_flush(redis_client, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    versions = VersionStore(redis_client, TreeSource.validator(config), name="loss-test")
    trees = TreeSource(versions, config)
    assert await trees.republish_lost() is None                      # nothing served yet
    await trees.ensure_published(config / "ivr" / "zhuzhou.yaml")
    doc = await versions.document(1)
    await versions.publish(doc, "admin", "the same tree again: version 2", force=True)
    served = await trees.current()
    assert served.version == 2
    assert await trees.republish_lost() is None                      # published: left alone
    await redis_client.flushall()
    assert await versions.current_number() is None
    assert await trees.republish_lost() == 1                         # a new history begins
    again = await trees.current()
    assert again.version == 1 and again.tree == served.tree
    assert await versions.document(1) == doc
    assert await trees.republish_lost() is None
