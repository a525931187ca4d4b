"""IVR tree versions in Redis: drafts, immutable published versions, rollback.

A published version is never changed: publish writes a new version number
with the document, its content hash, author, time and comment, and moves the
`current` pointer in one transaction. Rollback republishes an earlier
version's document as a new version, so the history is an audit trail. A
call pins the version that was current when it entered (see `pin`).

The document is stored as canonical JSON (sorted keys), so the content hash
does not depend on YAML formatting.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from ivr.problems import Problem
from kernel.errors import HotlineError
from kernel.redis_text import hash_fields, text_map

PREFIX = "ivr"
EVENTS = f"{PREFIX}:events"


class VersionError(HotlineError):
    """Refused: carries an id and the problems (for the CLI, web and API)."""

    def __init__(self, error_id: str, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message, error_id=error_id)
        self.problems = list(problems)


@dataclass(frozen=True)
class VersionInfo:
    number: int
    hash: str
    author: str
    comment: str
    published_at: float
    rollback_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "hash": self.hash, "author": self.author, "comment": self.comment,
                "published_at": self.published_at, "rollback_of": self.rollback_of}


def canonical(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(doc: Any) -> str:
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


def _info(number: int, h: dict[str, str]) -> VersionInfo:
    rb = h.get("rollback_of")
    return VersionInfo(number=number, hash=h["hash"], author=h.get("author", ""), comment=h.get("comment", ""),
                       published_at=float(h.get("published_at", 0)), rollback_of=int(rb) if rb else None)


class VersionStore:
    """Tree versions for one hotline (several controllers share it)."""

    def __init__(self, redis: aioredis.Redis, validate: Callable[[Any], Sequence[Problem]],
                 name: str = "default", clock: Callable[[], float] = time.time) -> None:
        self.r = redis
        self.validate = validate
        self.key = f"{PREFIX}:{name}"
        self.clock = clock

    def _vkey(self, n: int) -> str:
        return f"{self.key}:version:{n}"

    async def save_draft(self, doc: Any, author: str) -> list[Problem]:
        """Store the draft whatever its state; return its problems (empty when publishable)."""
        problems = list(self.validate(doc))
        await self.r.hset(f"{self.key}:draft", mapping={
            "doc": canonical(doc), "author": author, "saved_at": str(self.clock()),
            "problems": json.dumps([p.to_dict() for p in problems], ensure_ascii=False)})
        return problems

    async def draft(self) -> tuple[Any, list[dict]] | None:
        h = await self.r.hgetall(f"{self.key}:draft")
        if not h:
            return None
        return json.loads(h["doc"]), json.loads(h.get("problems", "[]"))

    async def publish(self, doc: Any, author: str, comment: str = "", *, rollback_of: int | None = None,
                      force: bool = False) -> VersionInfo:
        """Validate, then publish as a new immutable version. A broken tree is refused, never published.

        ``force`` republishes an unchanged document (its lists or calendar
        override files changed: a new version reads them again)."""
        problems = list(self.validate(doc))
        if problems:
            raise VersionError("tree_invalid", f"tree has {len(problems)} problem(s); not published", problems)
        if not author:
            raise VersionError("author_required", "publishing needs an author")
        digest = content_hash(doc)
        current = await self.current()
        if current and current.hash == digest and rollback_of is None and not force:
            raise VersionError("unchanged", f"identical to the current version {current.number}")
        number = int(await self.r.incr(f"{self.key}:seq"))
        fields = {"doc": canonical(doc), "hash": digest, "author": author, "comment": comment,
                  "published_at": str(self.clock())}
        if rollback_of is not None:
            fields["rollback_of"] = str(rollback_of)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._vkey(number), mapping=hash_fields(fields))
            pipe.rpush(f"{self.key}:history", number)
            pipe.set(f"{self.key}:current", number)
            pipe.publish(EVENTS, json.dumps({"event": "published", "tree": self.key, "version": number}))
            await pipe.execute()
        return _info(number, fields)

    async def rollback(self, number: int, author: str, comment: str = "") -> VersionInfo:
        doc = await self.document(number)
        return await self.publish(doc, author, comment or f"rollback to version {number}", rollback_of=number)

    async def current_number(self) -> int | None:
        v = await self.r.get(f"{self.key}:current")
        return int(v) if v else None

    async def current(self) -> VersionInfo | None:
        n = await self.current_number()
        return await self.info(n) if n else None

    async def info(self, number: int) -> VersionInfo:
        h = text_map(await self.r.hgetall(self._vkey(number)))
        if not h:
            raise VersionError("no_such_version", f"version {number} does not exist")
        return _info(number, h)

    async def document(self, number: int) -> Any:
        raw = await self.r.hget(self._vkey(number), "doc")
        if raw is None:
            raise VersionError("no_such_version", f"version {number} does not exist")
        return json.loads(raw)

    async def history(self) -> list[VersionInfo]:
        numbers = [int(n) for n in await self.r.lrange(f"{self.key}:history", 0, -1)]
        return [await self.info(n) for n in numbers]


async def publish_text(store: VersionStore, text: str | bytes, author: str, comment: str = "") -> VersionInfo:
    """Publish a tree given as YAML/JSON text: a syntax error, an oversized
    document or any problem refuses it with every problem; nothing is published."""
    from ivr.loader import parse_text

    parsed = parse_text(text)
    if parsed.problems:
        raise VersionError("tree_invalid", f"tree has {len(parsed.problems)} problem(s); not published",
                           parsed.problems)
    return await store.publish(parsed.data, author, comment)
