"""The tree every new call gets: the current published version, parsed once.

Versions are immutable, so a parsed Tree is cached by version number; a call
pins (version, tree) when it enters and keeps it to the end, whatever is
published meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.loader import load_data, load_file
from ivr.model import Tree, node_prompts
from ivr.numbers import CallerList
from ivr.problems import TreeInvalid
from ivr.validate import validate
from ivr.versions import VersionStore

log = logging.getLogger("hotline.ivr")


@dataclass(frozen=True)
class Pinned:
    version: int
    tree: Tree
    lists: Mapping[str, CallerList]


def tree_prompts(tree: Tree, extra: tuple = ()) -> list:
    out = list(extra)
    for node in tree.nodes.values():
        out += [p for _, p in node_prompts(node)]
    return out


class TreeSource:
    def __init__(self, versions: VersionStore, base_dir: Path, prewarm=None, cache_size: int = 16) -> None:
        self.versions = versions
        self.base_dir = Path(base_dir)
        self.prewarm = prewarm             # callable(list of prompts), run off the event loop
        self._cache: OrderedDict[int, Pinned] = OrderedDict()
        self._size = cache_size
        self._lock = asyncio.Lock()
        self._served: tuple[int, Any] | None = None      # the version new calls last got, and its document

    @staticmethod
    def validator(base_dir: Path):
        return lambda doc: validate(doc, base_dir=base_dir)

    async def ensure_published(self, default_tree: Path, author: str = "system") -> int:
        """At first start: publish the default tree if nothing is published yet."""
        current = await self.versions.current_number()
        if current:
            return current
        parsed = load_file(default_tree, base_dir=self.base_dir)
        tree_doc = _document_of(default_tree)
        if parsed.problems:
            raise TreeInvalid(parsed.problems)
        info = await self.versions.publish(tree_doc, author, f"default tree {default_tree.name}")
        return info.number

    async def get(self, version: int) -> Pinned:
        if version in self._cache:
            self._cache.move_to_end(version)
            return self._cache[version]
        async with self._lock:
            if version in self._cache:
                return self._cache[version]
            doc = await self.versions.document(version)
            result = await asyncio.to_thread(load_data, doc, base_dir=self.base_dir)
            tree = result.require()
            if self.prewarm:
                await asyncio.to_thread(self.prewarm, tree_prompts(tree))
            pinned = Pinned(version, tree, dict(result.lists))
            self._cache[version] = pinned
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return pinned

    async def current(self) -> Pinned:
        n = await self.versions.current_number()
        if n is None:
            raise LookupError("no IVR tree has been published")
        pinned = await self.get(n)
        if self._served is None or self._served[0] != n:
            self._served = (n, await self.versions.document(n))
        return pinned

    async def republish_lost(self, author: str = "system") -> int | None:
        """Redis lost the published versions (FLUSHALL under a running controller): the tree new
        calls last got is published again, as the first version of a new history, so the next
        calls are answered by it and not by the fallback queue. The number published, or None
        (something is published, or no tree was served yet)."""
        if self._served is None or await self.versions.current_number() is not None:
            return None
        number, doc = self._served
        async with self._lock:
            self._cache.clear()            # version numbers start again: none cached is theirs
        info = await self.versions.publish(doc, author, f"version {number} published again: Redis lost its data")
        log.warning("IVR tree version %d published again as version %d (Redis lost the published trees)",
                    number, info.number)
        return info.number


def _document_of(path: Path) -> Any:
    from ivr.loader import parse_file

    parsed = parse_file(path)
    if parsed.problems:
        raise TreeInvalid(parsed.problems)
    return parsed.data
