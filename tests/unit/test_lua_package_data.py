"""The Redis Lua scripts live in .lua files: each is shipped as package data and is what the code runs."""
import fnmatch
import tomllib
from pathlib import Path

from agents import lua

REPO = Path(__file__).resolve().parents[2]


def test_every_lua_file_is_package_data():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    found = sorted(p.relative_to(REPO) for p in REPO.glob("*/**/*.lua") if p.parts[len(REPO.parts)] in data)
    assert {p.parts[0] for p in found} >= {"agents", "tickets", "web"}
    for p in found:
        pkg, rel = p.parts[0], str(Path(*p.parts[1:]))
        assert any(fnmatch.fnmatch(rel, g) for g in data[pkg]), f"{p} is not in [tool.setuptools.package-data]"
    stray = [p for p in REPO.glob("*/**/*.lua") if p.parts[len(REPO.parts)] not in data
             and p.parts[len(REPO.parts)] not in (".venv", "build", "node_modules", "run", "data")]
    assert not stray, f"Lua outside a package with package-data: {stray}"


def test_the_routing_scripts_are_the_common_part_and_their_file():
    common = (REPO / "agents" / "lua" / "common.lua").read_text()
    assert lua.COMMON == common
    for name in ("seat", "call", "match"):
        assert lua.SCRIPTS[name] == common + (REPO / "agents" / "lua" / f"{name}.lua").read_text()
        assert "redis.call" in lua.SCRIPTS[name]
