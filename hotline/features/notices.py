"""Notices: a year with no official holiday schedule in the tree's calendars,
shown to supervisors and counted in the metrics."""
from __future__ import annotations

from dataclasses import dataclass

from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from ivr.notices import HolidayWatch
from web.routes_notices import notices_routes


@dataclass(kw_only=True)
class Notices(Feature):
    holidays: HolidayWatch


def load(deps: Deps, trees: Trees) -> Notices:
    holidays = HolidayWatch(trees.trees, timezone=deps.settings.hotline.timezone)
    return Notices(holidays=holidays, routes=[notices_routes(holidays.notices)],     # (with its metric)
                   tasks=[("holidays", holidays.run)])
