"""The pbx edge holds: pbx/ never imports dialplan/, and no product module outside pbx/ reads
AMI events as header bags (they subscribe to the typed events of pbx/events.py)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The runtime packages (devstack/ and bench/ watch raw AMI traffic on purpose: the simulated
# caller, the benchmarks).
PRODUCT = ("kernel", "agents", "dialplan", "hotline", "ivr", "recordings", "records", "tickets", "web")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_pbx_never_imports_dialplan():
    found = {p.name: sorted(m for m in imported(p) if m.split(".")[0] == "dialplan") for p in modules("pbx")}
    assert not {k: v for k, v in found.items() if v}


def test_no_product_module_outside_pbx_reads_raw_ami_events():
    leaks: dict[str, list[str]] = {}
    for package in PRODUCT:
        for path in modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [m for m in imported(path) if m.endswith(".AMIEvent") or m == "pbx.ami_events"]
            calls = [f"line {n.lineno}: .{n.func.attr}()" for n in ast.walk(tree)
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr in ("on_event", "action_list")]
            if names or calls:
                leaks[str(path.relative_to(ROOT))] = names + calls
    assert not leaks, leaks


def test_the_rules_see_a_leak(tmp_path):
    """The scans above are real: a module like the old handlers is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from pbx.ami import AMIEvent\nfrom dialplan.hotline import SPY\n"
                   "def wire(ami):\n    ami.on_event('*', print)\n", encoding="utf-8")
    assert {"pbx.ami.AMIEvent", "dialplan.hotline"} <= imported(bad)
    assert any(isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "on_event"
               for n in ast.walk(ast.parse(bad.read_text())))
