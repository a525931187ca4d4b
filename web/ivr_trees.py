"""The trees the admin's visual editor works on: one registry, name -> published versions.

The ivr feature registers the inbound call tree as ``calls``; another feature with a tree of its
own (the revisit feature's ``revisit``) adds it the same way. Every /api/admin/ivr/* route takes
``?tree=<name>`` and looks the name up here; a name nobody registered is a 404.

    editable = TreeRegistry()
    editable.add("calls", "来电流程", versions, audit="ivr")
    editable.add("revisit", "回访流程", revisit_versions, audit="ivr:revisit")
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ivr.versions import VersionStore
from web.errors import ApiError

CALLS = "calls"                      # the inbound call tree: the default of every route
CALLS_LABEL = "来电流程"
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class EditableTree:
    name: str                # the `tree` query parameter's value
    label: str               # what the editor's selector shows (Chinese)
    versions: VersionStore   # its published versions and its draft
    audit: str               # audit targets of its publications: "<audit>:version:<n>"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label}


class TreeRegistry:
    """The registered trees, in the order they were added (the call tree first)."""

    def __init__(self) -> None:
        self._trees: dict[str, EditableTree] = {}

    def add(self, name: str, label: str, versions: VersionStore, *, audit: str | None = None) -> EditableTree:
        if not NAME.match(name):
            raise ValueError(f"tree name {name!r}: lower-case letters, digits, '_' or '-'")
        if name in self._trees:
            raise ValueError(f"tree {name!r} is already registered")
        entry = EditableTree(name, label, versions, audit or f"ivr:{name}")
        self._trees[name] = entry
        return entry

    def get(self, name: str) -> EditableTree:
        """The tree called `name`; an ApiError 404 (with the names there are) for any other."""
        entry = self._trees.get(name)
        if entry is None:
            known = "、".join(f"{t.label}（{t.name}）" for t in self)
            raise ApiError(404, "unknown_tree", f"没有这个流程树，可选：{known}",
                           {"tree": name[:40], "trees": list(self._trees)})
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._trees

    def __iter__(self) -> Iterator[EditableTree]:
        return iter(self._trees.values())


__all__ = ["CALLS", "CALLS_LABEL", "EditableTree", "TreeRegistry"]
