"""Prometheus metrics: a registry others add to, rendered as text at /metrics.

    m = app[METRICS]                         # or the Metrics given to create_app
    calls = m.counter("hotline_calls_total", "Calls offered", labels=("lane",))
    calls.inc(lane="general")
    waiting = m.gauge("hotline_lane_waiting", "Callers waiting", labels=("lane",))
    waiting.set(3, lane="enterprise")
    m.histogram("hotline_ws_delivery_seconds", "Event delivery latency").observe(0.012)
    m.callback("hotline_seats", "Seats by state", fn=count_seats, labels=("state",))
        # fn() -> number or {(label values...): number}, may be async; run at scrape time

Text exposition format 0.0.4, written here (no extra dependency). One
registry per application, no module-level state.
"""
from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

log = logging.getLogger("web.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Value = float | Mapping[tuple[str, ...], float]
CallbackFn = Callable[[], Value | Awaitable[Value]]


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _esc_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _esc_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_esc_label(str(v))}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}

    def _key(self, labels: Mapping[str, Any]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name}: labels {sorted(labels)} != {sorted(self.label_names)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def value(self, **labels: Any) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_num(v)}"


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    kind = "gauge"

    def set(self, value: float, **labels: Any) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def dec(self, amount: float = 1.0, **labels: Any) -> None:
        self.inc(-amount, **labels)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        self._obs: dict[tuple[str, ...], list[float]] = {}   # per bucket counts, then sum, count

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        row = self._obs.setdefault(key, [0.0] * (len(self.buckets) + 2))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                row[i] += 1
        row[-2] += value
        row[-1] += 1

    def count(self, **labels: Any) -> float:
        row = self._obs.get(self._key(labels))
        return row[-1] if row else 0.0

    def samples(self) -> Iterable[str]:
        for key, row in sorted(self._obs.items()):
            for bound, n in zip(self.buckets, row):
                le = f'le="{_num(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {_num(n)}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, key, inf)} {_num(row[-1])}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_num(row[-2])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {_num(row[-1])}"


class _Callback(_Metric):
    def __init__(self, name: str, help: str, labels: Sequence[str], kind: str, fn: CallbackFn) -> None:
        super().__init__(name, help, labels)
        self.kind, self.fn = kind, fn

    async def collect(self) -> None:
        result = self.fn()
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Mapping):
            self._values = {tuple(str(x) for x in k): float(v) for k, v in result.items()}
        else:
            self._values = {(): float(result)}


class Metrics:
    """A registry: create metrics once (at set-up), update them anywhere."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, metric: _Metric) -> Any:
        if not NAME_RE.fullmatch(metric.name) or not all(LABEL_RE.fullmatch(n) for n in metric.label_names):
            raise ValueError(f"bad metric or label name: {metric.name} {metric.label_names}")
        existing = self._metrics.get(metric.name)
        if existing is not None:
            if type(existing) is type(metric) and existing.label_names == metric.label_names:
                return existing
            raise ValueError(f"metric {metric.name} already registered differently")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help, labels))

    def histogram(self, name: str, help: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        return self._add(Histogram(name, help, labels, buckets))

    def callback(self, name: str, help: str, fn: CallbackFn, labels: Sequence[str] = (),
                 kind: str = "gauge") -> None:
        """A metric whose values `fn` computes at each scrape."""
        if kind not in ("gauge", "counter"):
            raise ValueError("callback kind must be gauge or counter")
        self._add(_Callback(name, help, labels, kind, fn))

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    async def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._metrics):
            metric = self._metrics[name]
            if isinstance(metric, _Callback):
                try:
                    await metric.collect()
                except Exception:
                    log.exception("metric %s: collecting failed; left out of this scrape", name)
                    continue
            lines.append(f"# HELP {name} {_esc_help(metric.help)}")
            lines.append(f"# TYPE {name} {metric.kind}")
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
