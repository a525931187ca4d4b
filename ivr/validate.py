"""Validation of a whole tree: schema, graph and the files it points at, all problems at once.

Pipeline (``check_parsed``; ``ivr.loader.load_text/load_file/load_data`` are
the usual entry points):

1. schema (ivr.schema): types, required and unknown fields, ranges, patterns;
2. graph: dangling references, unknown lanes/lists/calendars, unreachable
   nodes, dead ends (a branch left empty, so a call would end without queue,
   transfer or hangup), loops with no way out;
3. resources, when a base directory is given: prompt audio files, caller
   lists (each bad line reported), calendar override files (merged into the
   calendars of the returned tree).

The returned LoadResult holds the tree only when there is no problem at all.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ivr import calendar as cal
from ivr.loader import DEFAULT_MAX_BYTES, Parsed, parse_file
from ivr.model import (
    TERMINAL_TYPES,
    CallerCheckNode,
    CollectNode,
    DescribeNode,
    MenuNode,
    PlayNode,
    Prompt,
    QueueNode,
    ScheduleNode,
    SurveyNode,
    Tree,
    frozen_map,
    node_prompts,
    node_refs,
)
from ivr.numbers import CallerList, read_caller_list
from ivr.problems import (
    CALENDAR,
    DEAD_END,
    FILE_NOT_FOUND,
    LOOP,
    OUTSIDE_ROOT,
    UNKNOWN_CALENDAR,
    UNKNOWN_LANE,
    UNKNOWN_LIST,
    UNKNOWN_NODE,
    UNREACHABLE,
    UNREADABLE,
    Problem,
    TreeInvalid,
    join,
)
from ivr.schema import build
from kernel.paths import OutsideRoot, resolve_path  # noqa: F401 (re-exported: callers import them from here)

AUDIO_EXTENSIONS = (".wav", ".WAV", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722", ".mp3")

# Branches a node must have, else a call could end there without queue/transfer/hangup.
_REQUIRED_BRANCHES: dict[type, tuple[str, ...]] = {
    PlayNode: ("next",), DescribeNode: ("next",), SurveyNode: ("next",),
    CollectNode: ("next", "on_fail"), MenuNode: ("on_timeout",),
    CallerCheckNode: ("default",), ScheduleNode: ("open", "closed"),
}


@dataclass(frozen=True)
class LoadResult:
    """A checked document: the tree (only when valid), every problem, and the caller lists read."""

    tree: Tree | None
    problems: tuple[Problem, ...] = ()
    lists: Mapping[str, CallerList] = field(default_factory=dict)
    base_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.tree is not None and not self.problems

    def require(self) -> Tree:
        """The tree, or TreeInvalid carrying every problem."""
        if not self.ok:
            raise TreeInvalid(self.problems)
        assert self.tree is not None
        return self.tree


def check_parsed(parsed: Parsed, *, base_dir: str | Path | None = None) -> LoadResult:
    base = Path(base_dir) if base_dir is not None else None
    problems = list(parsed.problems)
    if parsed.data is None:
        if not problems:
            problems.append(Problem("", "type", "the document is empty"))
        return LoadResult(None, tuple(problems), base_dir=base)
    built = build(parsed.data)
    problems += built.problems
    if built.tree is None:
        return LoadResult(None, tuple(_dedupe(problems)), base_dir=base)
    problems += check_graph(built.tree, built.node_ids)
    if parsed.key_lines:
        problems = [_with_line(p, parsed) for p in problems]
    tree = built.tree
    lists: dict[str, CallerList] = {}
    if base is not None:
        tree, lists, more = check_resources(tree, base)
        problems += more
    problems = _dedupe(problems)
    return LoadResult(None if problems else tree, tuple(problems), frozen_map(lists), base)


def validate(data: Any, *, base_dir: str | Path | None = None) -> list[Problem]:
    """Every problem of already-parsed document data (an empty list: valid)."""
    return list(check_parsed(Parsed(data), base_dir=base_dir).problems)


def _with_line(problem: Problem, parsed: Parsed) -> Problem:
    """The problem with the line of its path (or of the nearest enclosing key) in the document."""
    if problem.line is not None or not problem.path:
        return problem
    line = parsed.line(problem.path)
    return replace(problem, line=line) if line is not None else problem


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


# ---------------------------------------------------------------- graph


def check_graph(tree: Tree, node_ids: Iterable[str] | None = None) -> list[Problem]:
    """References, reachability, dead ends and loops. ``node_ids``: every declared id,
    including nodes too broken to build (references to them are not 'unknown')."""
    declared = list(node_ids) if node_ids is not None else list(tree.nodes)
    ids = set(declared)
    problems: list[Problem] = []
    edges: dict[str, list[str]] = {}
    for nid, node in tree.nodes.items():
        base = join("nodes", nid)
        out = edges.setdefault(nid, [])
        for rel, target in node_refs(node):
            if target in ids:
                out.append(target)
            else:
                problems.append(Problem(join(base, rel), UNKNOWN_NODE, f"unknown node {target!r}"))
        for name in _REQUIRED_BRANCHES.get(type(node), ()):
            if getattr(node, name) is None:
                problems.append(Problem(join(base, name), DEAD_END,
                                        f"dead end: no {name!r}, so a call would end here without "
                                        "reaching a queue, transfer or hangup"))
        if isinstance(node, QueueNode) and node.lane and node.lane not in tree.lanes:
            problems.append(Problem(join(base, "lane"), UNKNOWN_LANE, f"unknown lane {node.lane!r}"))
        if isinstance(node, ScheduleNode) and node.calendar and node.calendar not in tree.calendars:
            problems.append(Problem(join(base, "calendar"), UNKNOWN_CALENDAR,
                                    f"unknown calendar {node.calendar!r}"))
        if isinstance(node, CallerCheckNode):
            for i, c in enumerate(node.checks):
                if c.in_list and c.in_list not in tree.lists:
                    problems.append(Problem(join(base, f"checks.{i}.in_list"), UNKNOWN_LIST,
                                            f"unknown list {c.in_list!r}"))
    problems += _check_lanes(tree)
    if tree.entry and tree.entry not in ids:
        problems.append(Problem("entry", UNKNOWN_NODE, f"unknown node {tree.entry!r}"))
    elif tree.entry:
        reached = _reach(tree.entry, edges)
        for nid in declared:
            if nid not in reached:
                problems.append(Problem(join("nodes", nid), UNREACHABLE,
                                        f"unreachable: no path leads here from the entry {tree.entry!r}"))
    problems += _check_loops(tree, ids, edges)
    return problems


def _check_lanes(tree: Tree) -> list[Problem]:
    problems = []
    for lid, lane in tree.lanes.items():
        if lane.overflow is None or not lane.overflow.to:
            continue
        p = f"lanes.{lid}.overflow.to"
        if lane.overflow.to not in tree.lanes:
            problems.append(Problem(p, UNKNOWN_LANE, f"unknown lane {lane.overflow.to!r}"))
            continue
        chain = [lid]
        cur: str | None = lane.overflow.to
        while cur is not None and cur in tree.lanes and cur not in chain:
            chain.append(cur)
            nxt = tree.lanes[cur].overflow
            cur = nxt.to if nxt else None
        if cur == lid:
            problems.append(Problem(p, LOOP, "overflow goes round in a circle: " + " -> ".join(chain + [lid])))
    return problems


def _reach(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for t in edges.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def _check_loops(tree: Tree, ids: set[str], edges: Mapping[str, list[str]]) -> list[Problem]:
    """Cycles from which no terminal node (queue, transfer, hangup) can be reached."""
    # Nodes that can finish: terminals, declared-but-broken nodes (already reported), and
    # everything that leads to them.
    reverse: dict[str, list[str]] = {}
    for src, targets in edges.items():
        for t in targets:
            reverse.setdefault(t, []).append(src)
    finish = {nid for nid in ids if nid not in tree.nodes or tree.nodes[nid].type in TERMINAL_TYPES}
    todo = list(finish)
    while todo:
        for s in reverse.get(todo.pop(), ()):
            if s not in finish:
                finish.add(s)
                todo.append(s)
    stuck = [nid for nid in tree.nodes if nid not in finish]
    if not stuck:
        return []
    stuck_set = set(stuck)
    sub = {n: [t for t in edges.get(n, ()) if t in stuck_set] for n in stuck}
    problems = []
    order = {nid: i for i, nid in enumerate(tree.nodes)}
    for comp in _sccs(stuck, sub):
        if len(comp) == 1 and comp[0] not in sub[comp[0]]:
            continue  # not a cycle: it leads into a dead end reported elsewhere
        first = min(comp, key=order.__getitem__)
        cycle = _cycle_through(first, sub, set(comp))
        problems.append(Problem(join("nodes", first), LOOP,
                                "loop with no way out: " + " -> ".join(cycle)
                                + " (no queue, transfer or hangup can be reached)"))
    return problems


def _sccs(nodes: list[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative (trees may have 10,000+ nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    pushed = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def _cycle_through(start: str, edges: Mapping[str, list[str]], within: set[str]) -> list[str]:
    """A shortest cycle start -> ... -> start inside one strongly connected component."""
    parent: dict[str, str] = {}
    q = deque([start])
    while q:
        v = q.popleft()
        for w in edges[v]:
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return list(reversed(path)) + [start]
            if w in within and w not in parent:
                parent[w] = v
                q.append(w)
    return [start, start]  # pragma: no cover (an SCC always has a cycle)


# ---------------------------------------------------------------- resources




OUTSIDE_MESSAGE = "file paths must be relative to the config folder and stay inside it"


def audio_exists(path: Path) -> bool:
    """An audio file exists as given, or (Asterisk style, no extension) with a known extension."""
    if path.is_file():
        return True
    return any(path.with_name(path.name + ext).is_file() for ext in AUDIO_EXTENSIONS)


def check_resources(tree: Tree, base_dir: Path) -> tuple[Tree, dict[str, CallerList], list[Problem]]:
    """Prompt files, caller lists and calendar override files, relative to ``base_dir``.

    Returns the tree with override files merged into its calendars, the lists read, the problems.
    """
    problems: list[Problem] = []
    checked: dict[str, bool | None] = {}

    def check_prompt(path: str, prompt: Prompt) -> None:
        if prompt.file is None:
            return
        if prompt.file not in checked:
            try:
                checked[prompt.file] = audio_exists(resolve_path(base_dir, prompt.file))
            except OutsideRoot:
                checked[prompt.file] = None
        if checked[prompt.file] is None:
            problems.append(Problem(join(path, "file"), OUTSIDE_ROOT, OUTSIDE_MESSAGE))
        elif not checked[prompt.file]:
            problems.append(Problem(join(path, "file"), FILE_NOT_FOUND,
                                    f"prompt audio file not found: {prompt.file}"))

    shared = {id(tree.defaults.invalid_prompt), id(tree.defaults.timeout_prompt)}
    for name in ("invalid_prompt", "timeout_prompt"):
        p = getattr(tree.defaults, name)
        if p is not None:
            check_prompt(f"defaults.{name}", p)
    for nid, node in tree.nodes.items():
        for rel, prompt in node_prompts(node):
            if id(prompt) not in shared:
                check_prompt(join(join("nodes", nid), rel), prompt)

    lists: dict[str, CallerList] = {}
    for lid, ref in tree.lists.items():
        path = join("lists", lid)
        if not ref.file:
            continue
        try:
            f = resolve_path(base_dir, ref.file)
            lists[lid], more = read_caller_list(f, list_id=lid, path=path)
        except OutsideRoot:
            problems.append(Problem(path, OUTSIDE_ROOT, OUTSIDE_MESSAGE))
            continue
        except FileNotFoundError:
            problems.append(Problem(path, FILE_NOT_FOUND, f"list file not found: {ref.file}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            # the error's class only: its text may quote bytes of the file
            problems.append(Problem(path, UNREADABLE, f"cannot read list {ref.file}: {type(exc).__name__}"))
            continue
        problems += more

    calendars = dict(tree.calendars)
    cache: dict[str, tuple[list[cal.OverrideEntry], Mapping, list[Problem]]] = {}
    for cid, calendar in tree.calendars.items():
        if calendar.overrides_file is None:
            continue
        if calendar.overrides_file not in cache:
            cache[calendar.overrides_file] = _read_overrides(base_dir, calendar.overrides_file)
        entries, cn_years, more = cache[calendar.overrides_file]
        p = join(join("calendars", cid), "overrides")
        problems += [Problem(p, q.code, f"{calendar.overrides_file}: "
                                        + (f"{q.path}: {q.message}" if q.path else q.message)) for q in more]
        days = tuple(e.day for e in entries if not e.calendars or cid in e.calendars)
        years = dict(cn_years)
        years.update(calendar.cn_years)
        calendars[cid] = replace(calendar, overrides=days + calendar.overrides, cn_years=frozen_map(years))
    return replace(tree, calendars=frozen_map(calendars)), lists, problems


def _read_overrides(base_dir: Path, file: str):
    problems: list[Problem] = []
    try:
        f = resolve_path(base_dir, file)
    except OutsideRoot:
        return [], {}, [Problem("", OUTSIDE_ROOT, OUTSIDE_MESSAGE)]
    if not f.is_file():
        return [], {}, [Problem("", FILE_NOT_FOUND, "file not found")]
    parsed = parse_file(f, max_bytes=DEFAULT_MAX_BYTES)
    problems += parsed.problems
    data = parsed.data if parsed.data is not None else {}
    if not isinstance(data, Mapping):
        return [], {}, problems + [Problem("", CALENDAR, "expected a mapping {overrides, cn_years}")]
    for key in data:
        if key not in ("overrides", "cn_years"):
            problems.append(Problem(str(key), CALENDAR, f"unknown field {key!r} (overrides, cn_years)"))
    entries = cal.parse_override_items(data.get("overrides") or [], "overrides", problems, allow_calendars=True)
    years = cal.parse_cn_years(data.get("cn_years"), "cn_years", problems)
    return entries, years, problems
