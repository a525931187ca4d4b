"""Files shipped as package data (the Redis Lua scripts), read with importlib.resources."""
from __future__ import annotations

from importlib import resources


def package_text(package: str, name: str) -> str:
    """The text of `name` (a path relative to `package`, e.g. "lua/seat.lua") shipped in `package`."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")
