"""Events out: what the controller publishes for the browsers (console, wallboard).

Each feature defines its events as frozen dataclasses derived from `LiveEvent`
(agents/notify.py: screen_pop, call_transfer; recordings/notify.py: transcript,
draft_ticket; tickets/alerts.py: emergency_alert). A `Publish` callable takes
one of them; the composition root sends `event.to_json()` on `LIVE_CHANNEL`,
which web/live.py follows and fans out to the pages.

The JSON is the contract the browser code (web/static) and the tests read:
``{"type": TYPE, <the fields, in declaration order>}``.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

# The Redis pub/sub channel of the live events (the one place it is named).
LIVE_CHANNEL = "hotline:live"


@dataclasses.dataclass(frozen=True)
class LiveEvent:
    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The event as published: its type first, then its fields (values as they are)."""
        return {"type": self.TYPE, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


Publish = Callable[[LiveEvent], Awaitable[None]]
