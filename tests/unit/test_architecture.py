"""The dependency rules of the codebase, checked over the import graph (every import, function-level ones too).

- the composition root (`hotline`) sits on top: no runtime package imports it;
- `kernel` is the bottom: it imports no project package;
- `pbx` (the Asterisk protocol edge) imports only `kernel`;
- `devstack` (local process supervisor) and `bench` (benchmarks) are not imported by runtime packages;
  `bench` is imported by nothing but the CLI's `hotline bench` entry and the tests;
- the protocol libraries (panoramisk, pyst2's asterisk.*) are imported only inside `pbx`;
- the pure modules (the ones mypy checks strictly, listed in pyproject.toml) do no I/O.
"""
from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests",))
COMPOSITION = "hotline"
DEV = {"devstack", "bench"}
RUNTIME = [p for p in PACKAGES if p not in DEV and p != COMPOSITION]
TYPES_ONLY = ("redis.typing",)          # type names only, no client
IO_MODULES = {"asyncio", "socket", "subprocess", "redis", "aiohttp", "asyncpg", "panoramisk", "asterisk", "sqlite3",
              "urllib.request", "http.client", "vosk", "shutil"}


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:        # `from pkg import module`
                yield node.lineno, f"{target}.{alias.name}"


def top(module: str) -> str:
    return module.partition(".")[0]


def violations(package: str, allowed: set[str] | None = None, forbidden: set[str] = frozenset()) -> list[str]:
    found = []
    for name, path in modules(package):
        for line, target in imports(name, path):
            t = top(target)
            if t in forbidden or (allowed is not None and t in PACKAGES and t not in allowed):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    return sorted(set(found))


def test_the_layout_is_what_the_rules_expect():
    assert {COMPOSITION, "kernel", "pbx", "devstack", "bench"} <= set(PACKAGES), PACKAGES
    assert len(RUNTIME) >= 8


@pytest.mark.parametrize("package", RUNTIME)
def test_no_runtime_package_imports_the_composition_root_devstack_or_benchmarks(package):
    assert violations(package, forbidden={COMPOSITION, *DEV, "tests"}) == []


def test_kernel_is_the_bottom():
    assert violations("kernel", allowed={"kernel"}) == []


def test_pbx_imports_only_the_kernel():
    assert violations("pbx", allowed={"pbx", "kernel"}) == []


def test_devstack_does_not_import_the_composition_root_or_benchmarks():
    assert violations("devstack", forbidden={COMPOSITION, "bench", "tests"}) == []


def test_only_the_cli_imports_the_benchmarks():
    found = [v for v in violations(COMPOSITION, forbidden={"bench"}) if not v.startswith("hotline/cli")]
    assert found == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "pbx"])
def test_protocol_libraries_only_in_pbx(package):
    found = [v for v in violations(package, forbidden={"panoramisk", "asterisk"})]
    if package in DEV:         # the dev stack and benches may drive Asterisk directly
        return
    assert found == []


def strict_modules() -> list[str]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names: list[str] = []
    for override in cfg.get("tool", {}).get("mypy", {}).get("overrides", []):
        if override.get("strict") or override.get("disallow_untyped_defs"):     # the strict flags one by one
            mods = override["module"]
            names += [mods] if isinstance(mods, str) else mods
    return names


def test_there_are_pure_modules():
    assert len(strict_modules()) >= 5


@pytest.mark.parametrize("module", strict_modules())
def test_pure_modules_do_no_io(module):
    paths = [ROOT / (module.replace(".", "/") + ".py"), ROOT / module.replace(".", "/") / "__init__.py"]
    path = next(p for p in paths if p.exists())
    bad = [f"{path.relative_to(ROOT)}:{line}: imports {target}" for line, target in imports(module, path)
           if (target in IO_MODULES or top(target) in IO_MODULES - {"urllib", "http"})
           and not target.startswith(TYPES_ONLY)]
    assert bad == []


def test_the_packages_form_no_cycle():
    """The package graph (every import, function-level ones too) is a DAG: each package can be read
    with only what is below it."""
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for package in PACKAGES:
        for name, path in modules(package):
            edges[package] |= {top(t) for _, t in imports(name, path) if top(t) in PACKAGES and top(t) != package}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(p: str, trail: list[str]) -> None:
        state[p] = 1
        for q in sorted(edges[p]):
            if state.get(q) == 1:
                cycles.append(trail[trail.index(q):] + [q] if q in trail else [p, q])
            elif q not in state:
                visit(q, trail + [q])
        state[p] = 2

    for p in PACKAGES:
        if p not in state:
            visit(p, [p])
    assert cycles == []
