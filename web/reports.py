"""Report figures, pure: periods, sums of daily counters, ticket categories,
the weekly category trend and CSV text. No I/O; web.routes_reports reads
Redis and hands the raw numbers in.

    days = day_range(date(2026, 10, 1), date(2026, 12, 31))
    for p in periods(days[0], days[-1], "week"): ...          # Period("2026-W40", ...)
    rows = scope_rows(counters, "week", days[0], days[-1], scopes)   # lane/seat/all rows
    cats = category_rows(day_categories, "quarter", days[0], days[-1])
    chart = category_trend(day_categories, days[0], days[-1], top=8)
    text = to_csv(rows, SCOPE_COLUMNS)                         # UTF-8 with BOM (Excel)

Counters are the routing engine's day hashes (agents.events COUNTERS, hour
fields already dropped); figures over a period are computed from the summed
counters (agents.events.summarize), never by averaging daily rates.
Weeks are ISO weeks (Monday first), quarters calendar quarters; a period
cut by the range's ends covers only the days inside it (its from/to say so).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from agents.events import COUNTERS, summarize
from kernel.errors import HotlineError
from tickets.taxonomy import UNCLASSIFIED

PERIODS = ("day", "week", "quarter")
PERIOD_LABELS = {"day": "日", "week": "周", "quarter": "季度"}
MAX_DAYS = 400                # the routing engine keeps its day counters 400 days (stats_ttl_days)
OTHERS = "其他类别"


class ReportError(HotlineError, ValueError):
    """A report request that cannot be answered (bad dates, range too long)."""

    def __init__(self, error_id: str, message: str, **details: Any) -> None:
        super().__init__(message, error_id=error_id)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Period:
    key: str          # 2026-11-30 | 2026-W49 | 2026-Q4
    label: str        # zh-CN
    start: date       # first day inside the requested range
    end: date         # last day inside the requested range

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "from": self.start.isoformat(), "to": self.end.isoformat()}


def parse_day(text: str, name: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ReportError("invalid_date", f"日期格式应为 YYYY-MM-DD：{text}", field=name) from None


def day_range(start: date, end: date, max_days: int = MAX_DAYS) -> list[date]:
    if end < start:
        raise ReportError("invalid_range", "结束日期早于开始日期", start=start.isoformat(), end=end.isoformat())
    n = (end - start).days + 1
    if n > max_days:
        raise ReportError("range_too_long", f"查询范围最多 {max_days} 天", days=n, max_days=max_days)
    return [start + timedelta(days=i) for i in range(n)]


def period_key(day: date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ReportError("invalid_period", f"统计周期应为 {'/'.join(PERIODS)}", period=period)


def _label(key: str, period: str) -> str:
    if period == "day":
        y, m, d = key.split("-")
        return f"{int(y)}年{int(m)}月{int(d)}日"
    year, rest = key.split("-")
    return f"{year}年第{int(rest[1:])}周" if period == "week" else f"{year}年第{rest[1:]}季度"


def periods(start: date, end: date, period: str) -> list[Period]:
    """The periods from `start` to `end` in order, each cut to the range."""
    out: list[Period] = []
    for day in day_range(start, end):
        key = period_key(day, period)
        if out and out[-1].key == key:
            out[-1] = Period(key, out[-1].label, out[-1].start, day)
        else:
            out.append(Period(key, _label(key, period), day, day))
    return out


def default_range(today: date, period: str) -> tuple[date, date]:
    """Last 14 days, last 12 weeks (from a Monday) or the last 4 quarters, up to today."""
    if period == "day":
        return today - timedelta(days=13), today
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(weeks=11), today
    period_key(today, period)
    first = today.year * 4 + (today.month - 1) // 3 - 3     # three quarters back
    return date(first // 4, first % 4 * 3 + 1, 1), today


# ---------------------------------------------------------------- call figures

def add_counters(total: dict[str, int], more: Mapping[str, Any]) -> dict[str, int]:
    for name in COUNTERS:
        v = more.get(name)
        if v:
            total[name] = total.get(name, 0) + int(v)
    return total


@dataclass(frozen=True)
class Scope:
    kind: str         # all | lane | seat
    id: str
    name: str

    @property
    def key(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.id}"


KIND_LABELS = {"all": "全部", "lane": "队列", "seat": "坐席"}


def period_totals(counters: Mapping[date, Mapping[str, Mapping[str, Any]]], period: str, start: date, end: date,
                  scopes: Iterable[Scope]) -> dict[str, dict[str, dict[str, int]]]:
    """{period key: {scope key: summed counters}} from day counters (`counters[day][scope.key]`,
    missing: nothing counted); what records.reports.SqlReportFigures.period_counters sums in SQL."""
    scopes = list(scopes)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for p in periods(start, end, period):
        per_scope = out.setdefault(p.key, {})
        for s in scopes:
            total: dict[str, int] = {}
            day = p.start
            while day <= p.end:
                add_counters(total, counters.get(day, {}).get(s.key, {}))
                day += timedelta(days=1)
            if total:
                per_scope[s.key] = total
    return out


def period_rows(totals: Mapping[str, Mapping[str, Mapping[str, Any]]], period: str, start: date, end: date,
                scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    """One row per period and scope: the period's summed counters and the figures from them."""
    scopes = list(scopes)
    rows = []
    for p in periods(start, end, period):
        for s in scopes:
            total = add_counters({}, totals.get(p.key, {}).get(s.key, {}))
            rows.append({"period": p.key, "period_label": p.label, "kind": s.kind, "id": s.id, "name": s.name,
                         **summarize(total)})
    return rows


def scope_rows(counters: Mapping[date, Mapping[str, Mapping[str, Any]]], period: str, start: date, end: date,
               scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    """One row per period and scope: the summed counters and the figures from them.

    `counters[day][scope.key]` is that day's counter hash (missing: nothing counted).
    """
    scopes = list(scopes)
    return period_rows(period_totals(counters, period, start, end, scopes), period, start, end, scopes)


# ---------------------------------------------------------------- categories

def category_of(status: str | None, confirmed: str | None, draft: str | None, level: int = 2) -> str:
    """A ticket's category as `一级/二级` (confirmed fields win over the draft), cut to `level` names."""
    raw = confirmed if confirmed and status != "draft" else draft
    try:
        value = json.loads(raw).get("category") if raw else None
    except (ValueError, AttributeError):
        value = None
    if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
        return "/".join(value[:max(1, level)])
    return UNCLASSIFIED


def add_ticket(counts: dict[str, dict[str, int]], category: str, confirmed: bool) -> None:
    c = counts.setdefault(category, {"tickets": 0, "confirmed": 0})
    c["tickets"] += 1
    if confirmed:
        c["confirmed"] += 1


def category_rows(day_counts: Mapping[date, Mapping[str, Mapping[str, int]]], period: str, start: date,
                  end: date) -> list[dict[str, Any]]:
    """One row per period and category with tickets in it; the period's share of tickets; most first."""
    rows = []
    for p in periods(start, end, period):
        totals: dict[str, dict[str, int]] = {}
        day = p.start
        while day <= p.end:
            for cat, c in day_counts.get(day, {}).items():
                t = totals.setdefault(cat, {"tickets": 0, "confirmed": 0})
                t["tickets"] += int(c.get("tickets", 0))
                t["confirmed"] += int(c.get("confirmed", 0))
            day += timedelta(days=1)
        all_tickets = sum(t["tickets"] for t in totals.values())
        for cat, t in sorted(totals.items(), key=lambda kv: (-kv[1]["tickets"], kv[0])):
            rows.append({"period": p.key, "period_label": p.label, "category": cat, "tickets": t["tickets"],
                         "confirmed": t["confirmed"],
                         "share": round(t["tickets"] / all_tickets, 4) if all_tickets else None})
    return rows


def category_trend(day_counts: Mapping[date, Mapping[str, Mapping[str, int]]], start: date, end: date,
                   top: int = 8, focus: Iterable[str] = ()) -> dict[str, Any]:
    """Tickets per ISO week for the `top` categories of the range (plus any `focus` ones),
    the rest summed as 其他类别; with each series' change from its previous week."""
    weeks = periods(start, end, "week")
    per_week: dict[str, dict[str, int]] = {p.key: {} for p in weeks}
    totals: dict[str, int] = {}
    for p in weeks:
        day = p.start
        while day <= p.end:
            for cat, c in day_counts.get(day, {}).items():
                n = int(c.get("tickets", 0))
                per_week[p.key][cat] = per_week[p.key].get(cat, 0) + n
                totals[cat] = totals.get(cat, 0) + n
            day += timedelta(days=1)
    ranked = [c for c, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]
    chosen = ranked[:max(0, top)]
    chosen += [c for c in focus if c not in chosen]
    rest = [c for c in ranked if c not in chosen]
    series: list[dict[str, Any]] = [{"category": c, "counts": [per_week[p.key].get(c, 0) for p in weeks]} for c in chosen]
    if rest:
        series.append({"category": OTHERS, "others": len(rest),
                       "counts": [sum(per_week[p.key].get(c, 0) for c in rest) for p in weeks]})
    for s in series:
        counts = s["counts"]
        s["total"] = sum(counts)
        s["last_change"] = counts[-1] - counts[-2] if len(counts) >= 2 else None
    return {"weeks": [p.to_dict() for p in weeks], "series": series,
            "totals": [sum(per_week[p.key].values()) for p in weeks]}


# ---------------------------------------------------------------- CSV

SCOPE_COLUMNS = (
    ("period", "统计周期"), ("period_label", "周期名称"), ("kind_label", "维度"), ("id", "编号"), ("name", "名称"),
    ("offered", "呼入量"), ("answered", "接通量"), ("abandoned", "放弃量"), ("answer_rate", "接通率"),
    ("service_level", "15秒服务水平"), ("abandon_rate", "放弃率"), ("avg_wait_s", "平均等待(秒)"),
    ("avg_answer_s", "平均应答(秒)"), ("avg_talk_s", "平均通话(秒)"), ("avg_handle_s", "平均处理(秒)"),
    ("rang", "振铃次数"), ("no_answer", "未接次数"), ("callback_requested", "预约回拨"),
    ("callback_connected", "回拨接通"), ("callback_failed", "回拨失败"),
)
CATEGORY_COLUMNS = (("period", "统计周期"), ("period_label", "周期名称"), ("category", "诉求类别"),
                    ("tickets", "工单数"), ("confirmed", "已确认工单"), ("share", "占比"))
BOM = "\ufeff"


# What a spreadsheet may read as the start of a formula (OWASP CSV injection): =, +, -, @,
# and TAB / CR / LF, which Excel and LibreOffice skip before looking for one.
_FORMULA_STARTS = frozenset("=+-@\t\r\n")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    text = str(v)
    if text[:1] in _FORMULA_STARTS and not _is_number(text):
        return "'" + text            # a name that a spreadsheet would run as a formula
    return text


def _is_number(text: str) -> bool:
    if text != text.strip():
        return False                 # float() skips blanks: "\t1" is not a plain number
    try:
        float(text)
        return True
    except ValueError:
        return False


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Iterable[tuple[str, str]]) -> str:
    """CSV text with a BOM and a zh-CN header line, CRLF line ends (what Excel opens as UTF-8)."""
    columns = list(columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([title for _, title in columns])
    for r in rows:
        r = dict(r, kind_label=KIND_LABELS.get(r.get("kind", ""), r.get("kind", "")))
        w.writerow([_cell(r.get(name)) for name, _ in columns])
    return BOM + buf.getvalue()
