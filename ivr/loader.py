"""Reading tree documents: file or text -> plain data -> model, with problems not tracebacks.

- A document over the size limit (``DEFAULT_MAX_BYTES``, 4 MB; callers may
  pass their own) is refused before parsing.
- YAML and JSON syntax errors become one ``syntax`` problem with line and column.
- Keys given twice in one mapping (easy to do with DTMF options) are kept as
  ``duplicate_key`` problems with their path instead of silently dropped.
- YAML aliases cannot blow the document up: the number of values built is capped.
- The data is JSON-able: mapping keys are the strings written (``2:`` and
  ``"2":`` are the same key, ``00`` stays ``"00"``), dates and times become
  ISO strings.

``load_text``/``load_file``/``load_data`` run the whole pipeline (parse,
schema, graph and resource checks in ivr.validate) and return a LoadResult.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ivr.problems import DUPLICATE_KEY, SYNTAX, TOO_LARGE, UNREADABLE, Problem, join

if TYPE_CHECKING:  # the pipeline lives in ivr.validate, which imports this module
    from ivr.validate import LoadResult

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_VALUES = 2_000_000  # values built from one document (guards against alias bombs)
MAX_DEPTH = 64

try:  # libyaml's composer is ~10x faster; the pure-Python one gives the same result
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Parsed:
    """Plain data of a document plus the problems met while reading it."""

    data: Any
    problems: tuple[Problem, ...] = ()
    key_lines: Mapping[int, Mapping[str, int]] = field(default_factory=dict)  # id(mapping) -> key -> line

    def line(self, path: str) -> int | None:
        """The 1-based line of a dotted path's key in a YAML document (or of the nearest
        enclosing key that has one); None for JSON or unknown paths."""
        if not self.key_lines or not path:
            return None
        node, found = self.data, None
        for part in path.split("."):
            if isinstance(node, dict):
                line = self.key_lines.get(id(node), {}).get(part)
                if part not in node:
                    break
                found = line if line is not None else found
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                break
        return found


class _TooBig(Exception):
    pass


def _size_problem(size: int, max_bytes: int) -> Problem:
    return Problem("", TOO_LARGE, f"document is {size / 1048576:.1f} MB, over the "
                                  f"{max_bytes / 1048576:.1f} MB limit")


def parse_text(text: str | bytes, *, fmt: str | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Parsed:
    """YAML or JSON text -> Parsed. ``fmt``: "yaml", "json" or None (guess from the text)."""
    if isinstance(text, bytes):
        size = len(text)
        if size > max_bytes:
            return Parsed(None, (_size_problem(size, max_bytes),))
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return Parsed(None, (Problem("", SYNTAX, f"not UTF-8 text (byte {exc.start})"),))
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            return Parsed(None, (_size_problem(size, max_bytes),))
    if fmt is None:
        fmt = "json" if text.lstrip().startswith(("{", "[")) else "yaml"
    return _parse_json(text) if fmt == "json" else _parse_yaml(text)


def _parse_json(text: str) -> Parsed:
    dups: list[Problem] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        out: _JsonObj = _JsonObj()
        for k, v in items:
            if k in out:
                out.dup_keys.append(k)
            out[k] = v
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return Parsed(None, (Problem("", SYNTAX, f"JSON syntax error at line {exc.lineno}, "
                                                f"column {exc.colno}: {exc.msg}"),))
    _collect_json_dups(data, "", dups)
    return Parsed(_plain(data), tuple(dups))


class _JsonObj(dict):
    __slots__ = ("dup_keys",)

    def __init__(self) -> None:
        super().__init__()
        self.dup_keys: list[str] = []


def _collect_json_dups(value: Any, path: str, out: list[Problem]) -> None:
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, _JsonObj):
            for k in v.dup_keys:
                out.append(Problem(join(p, k), DUPLICATE_KEY, f"key {k!r} is given more than once"))
            stack.extend((x, join(p, k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, join(p, i)) for i, x in enumerate(v))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _parse_yaml(text: str) -> Parsed:
    builder = _YamlBuilder()
    try:
        data = builder.run(yaml.parse(text, Loader=_Loader))
    except _TooBig:
        return Parsed(None, (Problem("", TOO_LARGE, "document expands to too many values "
                                                    "(YAML aliases?)"),))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        return Parsed(None, (Problem("", SYNTAX, f"YAML syntax error{where}: {what}"),))
    return Parsed(data, tuple(builder.problems), builder.key_lines)


_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER_FIRST_CHARS = frozenset(k for k in yaml.resolver.Resolver.yaml_implicit_resolvers if k)
_BAD_KEY = object()


class _Frame:
    __slots__ = ("value", "path", "key", "merges", "lines")

    def __init__(self, value: Any, path: str) -> None:
        self.value, self.path = value, path
        self.key: Any = None  # a mapping's pending key (None: the next value is a key)
        self.merges: list = []
        self.lines: dict[str, int] = {}  # key -> line, for mappings


class _YamlBuilder:
    """YAML parse events -> plain data (what SafeLoader builds), noting duplicate keys and lines.

    Built straight from libyaml's event stream: PyYAML's composer calls a Python
    resolver for every node, which is most of the time for large trees.
    """

    def __init__(self) -> None:
        self.constructor = yaml.SafeLoader("")  # its scalar constructors only
        self.resolver = yaml.resolver.Resolver()
        self.problems: list[Problem] = []
        self.key_lines: dict[int, dict[str, int]] = {}  # id(mapping) -> key -> line
        self.anchors: dict[str, Any] = {}
        self.scalars: dict[tuple[str, str | None], Any] = {}
        self.plain: dict[str, str] = {}  # plain scalars known to resolve to themselves
        self.count = 0

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0] or (value and value[0] not in _RESOLVER_FIRST_CHARS):
                return value
            if value in self.plain:
                return self.plain[value]
            tag = self.resolver.resolve(yaml.ScalarNode, value, event.implicit)
            if tag == _STR_TAG and len(self.plain) < 100_000:
                self.plain[value] = value
        if tag == _STR_TAG:
            return value
        key = (value, tag)
        if key not in self.scalars:
            # types-PyYAML types libyaml's events with yaml._yaml.Mark, ScalarNode with yaml.error.Mark: same fields
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark,  # type: ignore[arg-type]
                                   event.style)
            built = self.constructor.construct_object(node, deep=True)
            if isinstance(built, (dt.date, dt.datetime)):
                built = built.isoformat()  # keep documents JSON-able (versions are stored as JSON)
            self.scalars[key] = built
        return self.scalars[key]

    def run(self, events) -> Any:
        stack: list[_Frame] = []
        root: Any = None
        documents = 0
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.AliasEvent:
                self.count += 1
                if self.count > MAX_VALUES:
                    raise _TooBig()
                top = stack[-1] if stack else None
                if kind is yaml.AliasEvent:
                    if event.anchor not in self.anchors:
                        raise yaml.MarkedYAMLError(None, None, f"found undefined alias {event.anchor!r}",
                                                   event.start_mark)
                    value = self.anchors[event.anchor]
                elif top is not None and top.key is None and type(top.value) is dict:
                    # a mapping key: its text as written ("0", "00", "yes" stay strings), so
                    # documents have string keys only, like JSON
                    plain_merge = event.value == "<<" and event.implicit[0] and event.tag is None
                    value = _MergeKey if plain_merge else event.value
                    if event.anchor:
                        self.anchors[event.anchor] = value
                else:
                    value = self.scalar(event)
                    if event.anchor:
                        self.anchors[event.anchor] = value
                if top is None:
                    root = value
                else:
                    self.attach(top, value, event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.count += 1
                if self.count > MAX_VALUES or len(stack) >= MAX_DEPTH:
                    raise _TooBig()
                container: Any = {} if kind is yaml.MappingStartEvent else []
                if event.anchor:
                    self.anchors[event.anchor] = container
                stack.append(_Frame(container, self.child_path(stack)))
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                if kind is yaml.MappingEndEvent:
                    for merged in frame.merges:
                        for k, v in merged.items():
                            if k not in frame.value:  # explicit keys and earlier merges win
                                frame.value[k] = v
                    self.key_lines[id(frame.value)] = frame.lines
                if stack:
                    self.attach(stack[-1], frame.value, event)
                else:
                    root = frame.value
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise yaml.MarkedYAMLError(None, None, "expected a single document, found another",
                                               event.start_mark)
        return root

    @staticmethod
    def child_path(stack: list[_Frame]) -> str:
        if not stack:
            return ""
        top = stack[-1]
        if type(top.value) is list:
            return join(top.path, len(top.value))
        if top.key is None or top.key is _BAD_KEY or top.key is _MergeKey:
            return top.path
        return join(top.path, top.key)

    def attach(self, top: _Frame, value: Any, event: Any) -> None:
        if type(top.value) is list:
            top.value.append(value)
            return
        if top.key is None:  # this value is a key
            line = event.start_mark.line + 1
            if value is _MergeKey:
                top.key = _MergeKey
            elif isinstance(value, (list, dict)):
                self.problems.append(Problem(top.path, SYNTAX, f"line {line}: a mapping key must be a plain value"))
                top.key = _BAD_KEY
            else:
                if value in top.value:
                    self.problems.append(Problem(join(top.path, value), DUPLICATE_KEY,
                                                 f"key {value!r} is given more than once (line {line})"))
                else:
                    top.lines[value] = line
                top.key = value
            return
        key, top.key = top.key, None
        if key is _MergeKey:
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in items):
                self.problems.append(Problem(top.path, SYNTAX, "'<<' must merge a mapping or a list of mappings"))
            else:
                top.merges.extend(items)
        elif key is not _BAD_KEY:
            top.value[key] = value


class _MergeKey:
    """Marker for YAML's "<<" merge key."""


def read_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes | None, Problem | None]:
    """A file's bytes, refusing files over ``max_bytes`` before reading them."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            return None, _size_problem(size, max_bytes)
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return None, Problem("", UNREADABLE, f"cannot read {p}: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return None, _size_problem(len(data), max_bytes)
    return data, None


def parse_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Parsed:
    data, problem = read_file(path, max_bytes=max_bytes)
    if problem is not None:
        return Parsed(None, (problem,))
    suffix = Path(path).suffix.lower()
    fmt = "json" if suffix == ".json" else ("yaml" if suffix in (".yaml", ".yml") else None)
    return parse_text(data, fmt=fmt, max_bytes=max_bytes)  # type: ignore[arg-type]


def default_base_dir(tree_file: str | Path) -> Path:
    """Where a tree's relative paths (lists, prompts, overrides) resolve from.

    The config root: the parent of the tree's folder when that folder is named
    ``ivr`` (``config/ivr/zhuzhou.yaml`` -> ``config``), else the tree's folder.
    """
    folder = Path(tree_file).resolve().parent
    return folder.parent if folder.name == "ivr" else folder


# The whole pipeline lives in ivr.validate; these names are the loader's public face.
def load_text(text: str | bytes, *, base_dir: str | Path | None = None, fmt: str | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES) -> LoadResult:
    """Text -> LoadResult (tree when valid, every problem otherwise). See ivr.validate."""
    from ivr.validate import check_parsed
    return check_parsed(parse_text(text, fmt=fmt, max_bytes=max_bytes), base_dir=base_dir)


def load_file(path: str | Path, *, base_dir: str | Path | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES) -> LoadResult:
    """A tree file -> LoadResult; ``base_dir`` defaults to ``default_base_dir(path)``."""
    from ivr.validate import check_parsed
    base = Path(base_dir) if base_dir is not None else default_base_dir(path)
    return check_parsed(parse_file(path, max_bytes=max_bytes), base_dir=base)


def load_data(data: Any, *, base_dir: str | Path | None = None) -> LoadResult:
    """Already-parsed data (e.g. JSON from the web editor) -> LoadResult."""
    from ivr.validate import check_parsed
    return check_parsed(Parsed(data), base_dir=base_dir)
