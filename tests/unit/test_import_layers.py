"""The package layers: kernel at the bottom, the domain packages above it, devstack (local processes) and
hotline (the composition root and CLI) above them, bench at the top and never installed."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOMAIN = ("agents", "ivr", "pbx", "dialplan", "recordings", "tickets", "web", "records")
PRODUCT = ("kernel", "devstack", "bench", "hotline", *DOMAIN)


def imports_of(package: str) -> dict[str, set[str]]:
    """module file -> the top-level product packages it imports (in function bodies too)."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        out[str(path.relative_to(REPO))] = found & set(PRODUCT)
    return out


def offenders(package: str, forbidden: set[str]) -> dict[str, set[str]]:
    return {f: bad for f, got in imports_of(package).items() if (bad := got & forbidden)}


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_import_neither_the_root_nor_the_dev_stack_nor_benchmarks(package):
    assert offenders(package, {"hotline", "devstack", "bench"}) == {}


def test_the_kernel_imports_no_product_package():
    assert offenders("kernel", set(PRODUCT) - {"kernel"}) == {}


@pytest.mark.parametrize("package", ["devstack", "hotline"])
def test_runtime_packages_do_not_import_the_benchmarks(package):
    # hotline/cli_bench.py imports bench lazily, by name, from a checkout
    assert offenders(package, {"bench"}) == {}


def test_the_dev_stack_does_not_import_the_composition_root():
    assert offenders("devstack", {"hotline"}) == {}


def test_the_scan_sees_imports_in_function_bodies():
    # hotline/cli_bench.py has `from recordings.stt.models import ...` inside a function only
    assert "recordings" in imports_of("hotline")["hotline/cli_bench.py"]
    assert "devstack" in set().union(*imports_of("hotline").values())
