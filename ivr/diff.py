"""Semantic diff of two trees: what an admin changed, in terms of nodes, options, lanes.

Trees are compared after loading, so formatting, key order, YAML vs JSON
and defaults written out or left implicit make no difference. The result is
plain JSON-able data::

    {"tree": {"entry": {"old": "start", "new": "start2"}},
     "nodes": {"added": ["survey"], "removed": [],
               "changed": {"menu": {"fields": {"timeout_s": {"old": 4, "new": 5}},
                                    "options": {"added": {"3": "tax"}, "removed": {},
                                                "changed": {"2": {"old": "ent_hours", "new": "enterprise_q"}}}}}},
     "lanes": {"added": [], "removed": [], "changed": {"enterprise": {"priority": {"old": 5, "new": 6}}}},
     "lists": {...}, "calendars": {...}}
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.model import MenuNode, Tree, to_data

_TREE_FIELDS = ("version", "name", "description", "entry", "timezone", "defaults")


def _change(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new}


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for key in list(old) + [k for k in new if k not in old]:
        if key in skip:
            continue
        if old.get(key) != new.get(key):
            out[key] = _change(old.get(key), new.get(key))
    return out


def _section(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    changed = {}
    for key in old:
        if key in new:
            fc = _field_changes(to_data(old[key]), to_data(new[key]))
            if fc:
                changed[key] = fc
    return {"added": [k for k in new if k not in old], "removed": [k for k in old if k not in new],
            "changed": changed}


def _options(old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, Any]:
    return {
        "added": {k: v for k, v in new.items() if k not in old},
        "removed": {k: v for k, v in old.items() if k not in new},
        "changed": {k: _change(old[k], new[k]) for k in old if k in new and old[k] != new[k]},
    }


def diff_trees(old: Tree, new: Tree) -> dict[str, Any]:
    """What changed from ``old`` to ``new`` (see the module doc for the shape)."""
    tree = {f: _change(to_data(getattr(old, f)), to_data(getattr(new, f)))
            for f in _TREE_FIELDS if to_data(getattr(old, f)) != to_data(getattr(new, f))}
    changed: dict[str, Any] = {}
    for nid, a in old.nodes.items():
        b = new.nodes.get(nid)
        if b is None:
            continue
        entry: dict[str, Any] = {}
        fields = _field_changes(to_data(a), to_data(b), skip=("options",))
        if fields:
            entry["fields"] = fields
        if isinstance(a, MenuNode) or isinstance(b, MenuNode):
            opts = _options(a.options if isinstance(a, MenuNode) else {},
                            b.options if isinstance(b, MenuNode) else {})
            if any(opts.values()):
                entry["options"] = opts
        if entry:
            changed[nid] = entry
    return {
        "tree": tree,
        "nodes": {"added": [n for n in new.nodes if n not in old.nodes],
                  "removed": [n for n in old.nodes if n not in new.nodes], "changed": changed},
        "lanes": _section(old.lanes, new.lanes),
        "lists": _section(old.lists, new.lists),
        "calendars": _section(old.calendars, new.calendars),
    }


def is_empty(diff: Mapping[str, Any]) -> bool:
    """True when two trees mean the same thing."""
    if diff["tree"]:
        return False
    return not any(diff[s]["added"] or diff[s]["removed"] or diff[s]["changed"]
                   for s in ("nodes", "lanes", "lists", "calendars"))


def summarize(diff: Mapping[str, Any]) -> list[str]:
    """One line per change, for people (admin UI, CLI, version comments)."""
    lines = [f"{f}: {c['old']!r} -> {c['new']!r}" for f, c in diff["tree"].items()]
    for section in ("nodes", "lanes", "lists", "calendars"):
        d = diff[section]
        lines += [f"{section}.{k}: added" for k in d["added"]]
        lines += [f"{section}.{k}: removed" for k in d["removed"]]
        for k, ch in d["changed"].items():
            fields = ch.get("fields", {}) if section == "nodes" else ch   # a node with only options changed has none
            for f, c in fields.items():
                lines.append(f"{section}.{k}.{f}: {c['old']!r} -> {c['new']!r}")
            for key, target in ch.get("options", {}).get("added", {}).items() if section == "nodes" else ():
                lines.append(f"{section}.{k}.options.{key}: added -> {target}")
            for key, target in ch.get("options", {}).get("removed", {}).items() if section == "nodes" else ():
                lines.append(f"{section}.{k}.options.{key}: removed (was {target})")
            for key, c in ch.get("options", {}).get("changed", {}).items() if section == "nodes" else ():
                lines.append(f"{section}.{k}.options.{key}: {c['old']} -> {c['new']}")
    return lines
