"""Raw AMI events (header bags), and masking of AMI headers before they reach a log.

The product reads the typed events of `pbx.events`, built from these by the AMI
client; the raw ones stay for the dev tooling that watches all traffic.

An AMI message is a block of ``Key: value`` lines. Some keys come more than
once in one message (``ChanVariable`` in channel events, ``Output`` in a
Command response); `AMIEvent.headers` maps such a key to its values joined
with ``"\\n"`` (AMI values never contain a newline, so `AMIEvent.get_all`
splits them back without loss).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kernel.privacy import mask_name, mask_number, mask_text

# Asterisk's placeholder for a caller id it does not know.
UNKNOWN_CALLER_ID = "<unknown>"


class Headers(Mapping[str, str]):
    """Read-only header mapping with case-insensitive lookup (AMI keys are).

    Iteration gives the keys as Asterisk spelled them.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(items or {})
        self._index: dict[str, str] = {k.lower(): k for k in self._items}

    def __getitem__(self, key: str) -> str:
        return self._items[self._index[key.lower()]]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({mask_headers(self)!r})"


@dataclass(frozen=True, repr=False)
class AMIEvent:
    """One AMI event (or one item of an action's event list)."""

    name: str
    headers: Mapping[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def get(self, key: str, default: Any = None) -> Any:
        """The header's value (case-insensitive key), or `default`."""
        return self.headers.get(key, default)

    def get_all(self, key: str) -> tuple[str, ...]:
        """Every value of a header sent more than once (empty if absent)."""
        value = self.headers.get(key)
        return () if value is None else tuple(value.split("\n"))

    @property
    def chan_variables(self) -> dict[str, str]:
        """``ChanVariable: NAME=value`` lines (manager.conf channelvars) as a dict."""
        out: dict[str, str] = {}
        for item in self.get_all("ChanVariable"):
            name, _, value = item.partition("=")
            out[name] = value
        return out

    @property
    def uniqueid(self) -> str | None:
        return self.get("Uniqueid")

    @property
    def linkedid(self) -> str | None:
        return self.get("Linkedid")

    @property
    def channel(self) -> str | None:
        return self.get("Channel")

    @property
    def context(self) -> str | None:
        return self.get("Context")

    @property
    def exten(self) -> str | None:
        return self.get("Exten")

    @property
    def priority(self) -> str | None:
        return self.get("Priority")

    @property
    def variable(self) -> str | None:
        return self.get("Variable")

    @property
    def value(self) -> str | None:
        return self.get("Value")

    @property
    def caller_id_num(self) -> str | None:
        """CallerIDNum; None when absent, empty or Asterisk's ``<unknown>``."""
        return _known(self.get("CallerIDNum"))

    @property
    def caller_id_name(self) -> str | None:
        """CallerIDName; None when absent, empty or Asterisk's ``<unknown>``."""
        return _known(self.get("CallerIDName"))

    def __repr__(self) -> str:
        return f"AMIEvent({self.name!r}, {mask_headers(self.headers)!r})"


def _known(value: str | None) -> str | None:
    return None if not value or value == UNKNOWN_CALLER_ID else value


# --- masking -------------------------------------------------------------

# Identifiers that look like long digit runs but are not personal data.
_ID_SUFFIXES = ("uniqueid", "linkedid", "actionid", "timestamp", "sessionid", "logintime",
                "lastcall", "lastpause", "holdtime", "talktime")
_NUMBER_SUFFIXES = ("calleridnum", "connectedlinenum")
_NAME_SUFFIXES = ("calleridname", "connectedlinename")
_CALLER_ID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<num>[^>]*)>\s*$')
# PJSIP/13800001234-0000002a;1: technology, resource, Asterisk's 8-hex-digit sequence suffix.
_CHANNEL = re.compile(r"^(?P<body>.*?)(?P<seq>-[0-9a-f]{8}(?:;[12])?)$")


_CHANNEL_IN_TEXT = re.compile(r"[A-Za-z]+/\S+?-[0-9a-f]{8}(?:;[12])?")


def mask_free_text(text: str) -> str:
    """Mask digit runs in free text (error messages), keeping channel sequence suffixes."""
    out, pos = [], 0
    for m in _CHANNEL_IN_TEXT.finditer(text):
        out += [mask_text(text[pos:m.start()]), mask_channel(m.group(0))]
        pos = m.end()
    out.append(mask_text(text[pos:]))
    return "".join(out)


def mask_channel(value: str) -> str:
    """Mask numbers in a channel name, keeping its sequence suffix readable."""
    m = _CHANNEL.match(value)
    if not m:
        return mask_text(value)
    return mask_text(m.group("body")) + m.group("seq")


def mask_caller_id(value: str) -> str:
    """``"张三" <13800001234>`` -> ``"张*" <138****1234>``; other text: digit runs masked."""
    m = _CALLER_ID.match(value)
    if not m:
        return mask_text(value)
    name = m.group("name").strip()
    shown_name = f'"{mask_name(name)}" ' if name else ""
    return f"{shown_name}<{mask_number(m.group('num'))}>"


def mask_value(key: str, value: Any) -> Any:
    """Mask one header value for logs and errors, by what its key says it holds.

    Lists (repeated headers) are masked item by item.
    """
    if isinstance(value, (list, tuple)):
        return [mask_value(key, v) for v in value]
    if value is None:
        return None
    text = str(value)
    k = key.lower()
    if k in ("secret", "password", "key"):
        return "***"
    if k.endswith(_ID_SUFFIXES):
        return text
    if k.endswith(_NUMBER_SUFFIXES):
        return text if text == UNKNOWN_CALLER_ID else mask_number(text)
    if k.endswith(_NAME_SUFFIXES):
        return text if text == UNKNOWN_CALLER_ID else mask_name(text)
    if k == "callerid":
        return mask_caller_id(text)
    if k.endswith("channel"):
        return mask_channel(text)
    return mask_text(text)


def mask_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `headers` safe to log (caller numbers and names masked)."""
    return {k: mask_value(k, v) for k, v in headers.items()}
