"""Redis replies as text, and hash fields as redis-py's types want them.

redis-py types a reply as ``bytes | str`` whatever the client's
``decode_responses``; the stores keep text. These helpers decode bytes as
UTF-8 and pass text through, so a store works with either kind of client and
its values are typed ``str``. A reply that is not a string (a number, a list)
where text was expected is a TypeError, not a silent ``str()``.

    ticket = Ticket.from_hash(text_map(await r.hgetall(key)))
    await r.hset(key, mapping=hash_fields({"status": "confirmed"}))
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from redis.typing import EncodableT, FieldT


def text(value: object) -> str:
    """One string reply as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"expected a Redis string reply, got {type(value).__name__}")


def text_or_none(value: object) -> str | None:
    """A string reply as text, None for a missing value (GET of no key, HGET of no field)."""
    return None if value is None else text(value)


def texts(values: Iterable[object]) -> list[str]:
    """A list reply (SMEMBERS, ZRANGE without scores, KEYS...) as text."""
    return [text(v) for v in values]


def text_map(values: Mapping[Any, object] | None) -> dict[str, str]:
    """A hash reply (HGETALL) as text; ``{}`` for no hash (or None from a pipeline that skipped it)."""
    return {text(k): text(v) for k, v in (values or {}).items()}


def scored(values: Iterable[object]) -> list[tuple[str, float]]:
    """A ZRANGE ... WITHSCORES reply as (member, score) pairs."""
    out = []
    for pair in values:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[1], (int, float)):
            raise TypeError(f"expected a (member, score) pair, got {type(pair).__name__}")
        out.append((text(pair[0]), float(pair[1])))
    return out


def hash_fields(fields: Mapping[str, EncodableT]) -> Mapping[FieldT, EncodableT]:
    """Fields for HSET ``mapping=``: the same mapping, typed as redis-py asks (a str is a FieldT, but
    Mapping's key type is invariant, so a ``dict[str, str]`` is not a ``Mapping[FieldT, ...]``)."""
    return cast(Mapping[FieldT, EncodableT], fields)
