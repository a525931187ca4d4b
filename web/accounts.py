"""User accounts in Redis: who may log in, with which role.

Layout (prefix `web:`):
  web:user:seq          counter behind user ids ("u1", "u2", ...)
  web:user:<id>         hash: the user's fields and password hash
  web:usernames         hash: username -> id (unique login names)
  web:admins            set: ids of enabled admins (the last one is protected)

Users are never deleted, only disabled, so the audit trail keeps naming
real accounts. Changes that touch the set of admins run in a WATCH/MULTI
transaction, so two admins cannot demote each other at the same moment and
leave nobody in charge.
"""
from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from kernel.errors import HotlineError
from web.auth import PasswordFormatError, PasswordHasher
from web.sessions import announce_ended

PREFIX = "web"
SEQ = f"{PREFIX}:user:seq"
USERNAMES = f"{PREFIX}:usernames"
ADMINS = f"{PREFIX}:admins"

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
LINK_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MAX_PASSWORD_LEN = 256


class Role(enum.IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    OPERATOR = 1
    SUPERVISOR = 2
    ADMIN = 3

    @property
    def id(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[str(text).upper()]
        except KeyError:
            raise AccountError("invalid_role", "角色无效", {"role": text}) from None


ROLE_IDS = [r.id for r in Role]
ROLE_LABELS = {Role.OPERATOR: "话务员", Role.SUPERVISOR: "班长", Role.ADMIN: "管理员"}


class AccountError(HotlineError):
    """A refused account operation: id, zh-CN message, details."""

    def __init__(self, error_id: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, error_id=error_id, text=f"{error_id}: {message}")
        self.details = dict(details or {})


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: Role
    operator_id: str | None = None   # the operator's id in agents/ (operators only)
    seat: str | None = None          # the seat (softphone) usually used, if fixed
    disabled: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "role": self.role.id, "operator_id": self.operator_id, "seat": self.seat,
                "disabled": self.disabled, "created_at": self.created_at, "updated_at": self.updated_at}


USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "username", "display_name", "role", "operator_id", "seat", "disabled"],
    "properties": {
        "id": {"type": "string"}, "username": {"type": "string"}, "display_name": {"type": "string"},
        "role": {"type": "string", "enum": ROLE_IDS},
        "operator_id": {"type": ["string", "null"]}, "seat": {"type": ["string", "null"]},
        "disabled": {"type": "boolean"}, "created_at": {"type": "number"}, "updated_at": {"type": "number"},
    },
}


def _key(user_id: str) -> str:
    return f"{PREFIX}:user:{user_id}"


def _user(h: Mapping[str, str]) -> User:
    return User(id=h["id"], username=h["username"], display_name=h.get("display_name", h["username"]),
                role=Role.parse(h["role"]), operator_id=h.get("operator_id") or None,
                seat=h.get("seat") or None, disabled=h.get("disabled") == "1",
                created_at=float(h.get("created_at", 0)), updated_at=float(h.get("updated_at", 0)))


def normalize_username(username: str) -> str:
    name = str(username).strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise AccountError("invalid_username", "用户名须为 2 到 32 位小写字母、数字或 _ . -，以字母开头",
                           {"username": username})
    return name


def _link(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not LINK_RE.fullmatch(str(value)):
        raise AccountError("invalid_field", "字段格式不正确", {"field": field})
    return str(value)


def _display_name(value: str) -> str:
    name = str(value).strip()
    if not 1 <= len(name) <= 40:
        raise AccountError("invalid_field", "姓名长度须为 1 到 40 个字符", {"field": "display_name"})
    return name


class Accounts:
    """The account store. KDF work runs in threads, at most `kdf_slots` at once
    (each scrypt call holds tens of MiB)."""

    def __init__(self, redis: aioredis.Redis, hasher: PasswordHasher, clock: Callable[[], float],
                 min_password_len: int = 10, kdf_slots: int = 4) -> None:
        # decode_responses=True: every answer is str, which redis-py's types cannot tell
        self.redis: Any = redis
        self.hasher = hasher
        self.clock = clock
        self.min_password_len = min_password_len
        self._kdf = asyncio.Semaphore(kdf_slots)

    # -- passwords -------------------------------------------------------
    def check_password_policy(self, password: str, username: str = "") -> None:
        problems = []
        if len(password) < self.min_password_len:
            problems.append(f"至少 {self.min_password_len} 个字符")
        if len(password) > MAX_PASSWORD_LEN:
            problems.append(f"不能超过 {MAX_PASSWORD_LEN} 个字符")
        if username and password.strip().lower() == username.lower():
            problems.append("不能与用户名相同")
        if len(set(password)) < 4:
            problems.append("过于简单")
        if problems:
            raise AccountError("weak_password", "密码不符合要求：" + "；".join(problems),
                               {"min_length": self.min_password_len})

    async def _hash(self, password: str) -> str:
        async with self._kdf:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password: str, stored: str | None) -> bool:
        async with self._kdf:
            if stored is None:
                await asyncio.to_thread(self.hasher.dummy_verify, password)
                return False
            try:
                return await asyncio.to_thread(self.hasher.verify, password, stored)
            except PasswordFormatError:
                return False

    # -- reading ---------------------------------------------------------
    async def get(self, user_id: str) -> User | None:
        h = await self.redis.hgetall(_key(user_id))
        return _user(h) if h else None

    async def require(self, user_id: str) -> User:
        user = await self.get(user_id)
        if user is None:
            raise AccountError("unknown_user", "用户不存在", {"id": user_id})
        return user

    async def by_username(self, username: str) -> User | None:
        user_id = await self.redis.hget(USERNAMES, str(username).strip().lower())
        return await self.get(user_id) if user_id else None

    async def list(self) -> list[User]:
        ids = await self.redis.hvals(USERNAMES)
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.hgetall(_key(user_id))
            rows = await pipe.execute()
        return sorted((_user(h) for h in rows if h), key=lambda u: int(u.id[1:]) if u.id[1:].isdigit() else 0)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches (disabled users raise), else None.

        Unknown users cost the same KDF time as known ones. A hash made with
        older parameters is upgraded on a successful login.
        """
        name = str(username).strip().lower()
        user_id = await self.redis.hget(USERNAMES, name) if USERNAME_RE.fullmatch(name) else None
        stored = await self.redis.hget(_key(user_id), "password") if user_id else None
        if not await self._verify(password, stored):
            return None
        assert user_id is not None and stored is not None        # verified: both were there
        user = await self.require(user_id)
        if user.disabled:
            raise AccountError("account_disabled", "账号已停用，请联系管理员", {"username": name})
        if self.hasher.needs_rehash(stored):
            await self.redis.hset(_key(user_id), "password", await self._hash(password))
        return user

    # -- changing --------------------------------------------------------
    async def create(self, username: str, password: str, role: Role, display_name: str | None = None,
                     operator_id: str | None = None, seat: str | None = None) -> User:
        name = normalize_username(username)
        role = Role(role)
        self.check_password_policy(password, name)
        display = _display_name(display_name if display_name else name)
        op = _link(operator_id, "operator_id")
        if role is Role.OPERATOR and op is None:
            op = name
        seat_id = _link(seat, "seat")
        hashed = await self._hash(password)
        now = self.clock()
        async with self.redis.pipeline() as pipe:
            while True:
                try:
                    await pipe.watch(USERNAMES)
                    if await pipe.hexists(USERNAMES, name):
                        raise AccountError("username_taken", "用户名已存在", {"username": name})
                    user_id = f"u{await self.redis.incr(SEQ)}"
                    pipe.multi()
                    pipe.hset(USERNAMES, name, user_id)
                    pipe.hset(_key(user_id), mapping={
                        "id": user_id, "username": name, "display_name": display, "role": role.id,
                        "operator_id": op or "", "seat": seat_id or "", "disabled": "0",
                        "created_at": repr(now), "updated_at": repr(now),
                        "password": hashed, "password_changed_at": repr(now)})
                    if role is Role.ADMIN:
                        pipe.sadd(ADMINS, user_id)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        return await self.require(user_id)

    async def set_password(self, user_id: str, password: str) -> User:
        user = await self.require(user_id)
        self.check_password_policy(password, user.username)
        hashed = await self._hash(password)
        now = repr(self.clock())
        await self.redis.hset(_key(user_id), mapping={"password": hashed, "password_changed_at": now,
                                                      "updated_at": now})
        return await self.require(user_id)

    async def change_own_password(self, user_id: str, old: str, new: str) -> User:
        stored = await self.redis.hget(_key(user_id), "password")
        if not await self._verify(old, stored):
            raise AccountError("bad_password", "原密码不正确")
        if old == new:
            raise AccountError("weak_password", "新密码不能与原密码相同")
        return await self.set_password(user_id, new)

    async def update(self, user_id: str, *, display_name: str | None = None, role: Role | None = None,
                     operator_id: str | None | object = ..., seat: str | None | object = ...,
                     disabled: bool | None = None) -> User:
        """Change some fields (`...` = leave as is). Refuses to leave no enabled admin."""
        fields: dict[str, str] = {}
        if display_name is not None:
            fields["display_name"] = _display_name(display_name)
        if role is not None:
            fields["role"] = Role(role).id
        if operator_id is not ...:
            fields["operator_id"] = _link(operator_id, "operator_id") or ""  # type: ignore[arg-type]
        if seat is not ...:
            fields["seat"] = _link(seat, "seat") or ""  # type: ignore[arg-type]
        if disabled is not None:
            fields["disabled"] = "1" if disabled else "0"
        key = _key(user_id)
        async with self.redis.pipeline() as pipe:
            while True:
                try:
                    await pipe.watch(key, ADMINS)
                    current = await pipe.hgetall(key)
                    if not current:
                        raise AccountError("unknown_user", "用户不存在", {"id": user_id})
                    after = _user({**current, **fields})
                    if after.role is Role.OPERATOR and after.operator_id is None:
                        fields["operator_id"] = after.username
                    admin_after = after.role is Role.ADMIN and not after.disabled
                    if not admin_after and await pipe.sismember(ADMINS, user_id) and await pipe.scard(ADMINS) <= 1:
                        raise AccountError("last_admin", "不能停用或降级最后一个管理员账号", {"id": user_id})
                    pipe.multi()
                    if fields:
                        pipe.hset(key, mapping={**fields, "updated_at": repr(self.clock())})
                    (pipe.sadd if admin_after else pipe.srem)(ADMINS, user_id)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        if fields.keys() & {"role", "disabled", "operator_id", "seat"}:
            # what a live page may see depends on these: every node closes this user's pages
            # (they reconnect under the new rights, or not at all when disabled)
            await announce_ended(self.redis, user_id=user_id, reason="account_changed")
        return await self.require(user_id)
