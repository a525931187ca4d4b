"""ivr.calls.CallRecords' transitions over dicts in memory: the same pure decisions
(ivr/call_record.py), no Redis. `updates` lists what each accepted transition wrote."""
from __future__ import annotations

from typing import Any

from ivr import call_record as R
from ivr.calls import CallRecords


class MemoryCalls:
    def __init__(self, records: dict[str, dict[str, Any]] | None = None) -> None:
        self.data = {cid: dict(rec) for cid, rec in (records or {}).items()}
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.decisions: list[tuple[str, R.Decision]] = []

    async def get(self, call_id: str) -> dict[str, Any] | None:
        return dict(self.data[call_id]) if call_id in self.data else None

    async def record(self, call_id: str) -> R.CallRecord | None:
        return R.CallRecord.from_data(self.data[call_id]) if call_id in self.data else None

    async def _apply(self, call_id: str, t: R.Transition) -> R.Decision:
        rec = self.data.get(call_id)
        status = str(rec.get("status") or "") if rec else ""
        d = R.decide(R.status_of(status), t, exists=bool(status))
        self.decisions.append((call_id, d))
        if isinstance(d, R.Apply):
            self.data.setdefault(call_id, {}).update(d.fields)
            self.updates.append((call_id, d.fields))
        return d


async def _transition(self: MemoryCalls, name: str, call_id: str, *args: Any, **kw: Any) -> Any:
    """Run the real CallRecords method's transition, with its write swapped for the dict's."""
    store = CallRecords.__new__(CallRecords)
    store.sink = None

    async def change(cid: str, t: R.Transition, ttl: int = 0) -> R.Decision:
        return await self._apply(cid, t)

    async def fact(cid: str, t: R.Transition) -> None:
        await self._apply(cid, t)

    store._change = change          # type: ignore[method-assign]
    store._fact = fact              # type: ignore[method-assign]
    return await getattr(CallRecords, name)(store, call_id, *args, **kw)


for _name in ("menu_done", "lane_chosen", "queued", "offered", "answered", "callback_requested",
              "callback_connected", "missed", "transferred", "described", "recording_kept", "seat_connected",
              "surveyed", "ticket_linked", "ended"):
    def _method(name: str) -> Any:
        async def method(self: MemoryCalls, call_id: str, *args: Any, **kw: Any) -> Any:
            return await _transition(self, name, call_id, *args, **kw)
        method.__name__ = name
        return method
    setattr(MemoryCalls, _name, _method(_name))


