"""Hand-off settings: config/tickets/handoff.yaml into a typed, frozen `HandoffConfig`.

Secrets come from the environment variables the file names (`token_env`,
`password_env`) unless written in the file; they never appear in a repr.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tickets.model import TicketsError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "tickets" / "handoff.yaml"
AUTH_TYPES = ("none", "bearer", "basic")
_KEYS = {"url", "auth", "timeouts", "attempts", "backoff", "visibility_timeout_s", "poll_s", "batch",
         "concurrency", "headers"}


class HandoffConfigError(TicketsError):
    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__("tickets.handoff_config_invalid", f"{path}: " + "; ".join(problems),
                         path=path, problems=problems)


@dataclass(frozen=True)
class HandoffConfig:
    url: str = ""
    auth_type: str = "none"
    token: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    connect_timeout_s: float = 3.0
    total_timeout_s: float = 10.0
    attempts: int = 10
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    visibility_timeout_s: float = 60.0
    poll_s: float = 1.0
    batch: int = 20
    concurrency: int = 4
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def authorization(self) -> str | None:
        """The Authorization header value, or None."""
        if self.auth_type == "bearer":
            return f"Bearer {self.token}"
        if self.auth_type == "basic":
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def problems(self) -> list[str]:
        out = []
        if self.url and not self.url.startswith(("http://", "https://")):
            out.append("url: must start with http:// or https://")
        if self.auth_type not in AUTH_TYPES:
            out.append(f"auth.type: must be one of {', '.join(AUTH_TYPES)}")
        elif self.url and self.auth_type == "bearer" and not self.token:
            out.append("auth: bearer needs a token (auth.token or the variable named by auth.token_env)")
        elif self.url and self.auth_type == "basic" and not self.username:
            out.append("auth: basic needs auth.username")
        for name in ("connect_timeout_s", "total_timeout_s", "backoff_base_s", "backoff_max_s",
                     "visibility_timeout_s", "poll_s"):
            if not getattr(self, name) > 0:
                out.append(f"{name}: must be more than 0")
        for name in ("attempts", "batch", "concurrency"):
            if getattr(self, name) < 1:
                out.append(f"{name}: must be at least 1")
        if self.backoff_max_s < self.backoff_base_s:
            out.append("backoff.max_s: must not be below backoff.base_s")
        rounds = -(-self.batch // max(1, self.concurrency))     # a batch waits its turn in rounds
        if self.visibility_timeout_s <= self.total_timeout_s * rounds:
            out.append(f"visibility_timeout_s: must be longer than timeouts.total_s x {rounds} "
                       "(batch / concurrency), else a live worker's deliveries are taken over")
        return out


def _number(data: Mapping[str, Any], key: str, path: str, kind: type, default: Any, problems: list[str]) -> Any:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        problems.append(f"{path}: expected {'a whole number' if kind is int else 'a number'}, got {value!r}")
        return default
    return kind(value)


def config_from_dict(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
                     source: str = "handoff config") -> HandoffConfig:
    env = os.environ if env is None else env
    problems = [f"{k}: unknown setting" for k in sorted(set(data) - _KEYS)]
    auth = data.get("auth") or {}
    timeouts = data.get("timeouts") or {}
    backoff = data.get("backoff") or {}
    headers = data.get("headers") or {}
    for name, part in (("auth", auth), ("timeouts", timeouts), ("backoff", backoff), ("headers", headers)):
        if not isinstance(part, Mapping):
            problems.append(f"{name}: expected a mapping")
    if problems:
        raise HandoffConfigError(source, problems)
    d = HandoffConfig()
    config = HandoffConfig(
        url=str(data.get("url") or "").strip(),
        auth_type=str(auth.get("type") or "none"),
        token=str(auth.get("token") or env.get(str(auth.get("token_env") or ""), "") or ""),
        username=str(auth.get("username") or ""),
        password=str(auth.get("password") or env.get(str(auth.get("password_env") or ""), "") or ""),
        connect_timeout_s=_number(timeouts, "connect_s", "timeouts.connect_s", float, d.connect_timeout_s, problems),
        total_timeout_s=_number(timeouts, "total_s", "timeouts.total_s", float, d.total_timeout_s, problems),
        attempts=_number(data, "attempts", "attempts", int, d.attempts, problems),
        backoff_base_s=_number(backoff, "base_s", "backoff.base_s", float, d.backoff_base_s, problems),
        backoff_max_s=_number(backoff, "max_s", "backoff.max_s", float, d.backoff_max_s, problems),
        visibility_timeout_s=_number(data, "visibility_timeout_s", "visibility_timeout_s", float,
                                     d.visibility_timeout_s, problems),
        poll_s=_number(data, "poll_s", "poll_s", float, d.poll_s, problems),
        batch=_number(data, "batch", "batch", int, d.batch, problems),
        concurrency=_number(data, "concurrency", "concurrency", int, d.concurrency, problems),
        headers={str(k): str(v) for k, v in headers.items()},
    )
    problems += config.problems()
    if problems:
        raise HandoffConfigError(source, problems)
    return config


def load_handoff_config(path: str | os.PathLike[str] | None = None,
                        env: Mapping[str, str] | None = None) -> HandoffConfig:
    """Read and check the hand-off settings (default: config/tickets/handoff.yaml)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HandoffConfigError(str(path), [str(exc)]) from None
    if not isinstance(data, Mapping):
        raise HandoffConfigError(str(path), ["top level must be a mapping"])
    return config_from_dict(data, env, str(path))
