"""Shared by the dashboard tests: a generated sample replayed as daily batches, the alerts
evaluated after each day (as a daily deployment runs), so operations and quality have
several recorded days and the volume rule has recorded the injected spike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs

from fastcommerce import Pipeline
from fastcommerce.sample import write_sample
from fastcommerce.testing import feed_by_day

START = date(2024, 1, 15)
DAYS = 4
BASE = datetime(START.year, START.month, START.day, tzinfo=UTC)
#: web places five times its orders in the afternoon of the last day: the volume rule, with
#: three days of history, raises an orders spike (and a revenue spike) for that hour
SPIKE = ("web", BASE + timedelta(days=3, hours=14), 5.0)


@attrs.frozen
class Replayed:
    db: Path
    end_of_data: datetime


def replay(tmp: Path) -> Replayed:
    summary = write_sample(tmp / "data", orders=1600 * DAYS, days=DAYS, seed=3, start=START, spikes=[SPIKE])
    clock = {"now": BASE}
    with Pipeline(tmp / "shop.db", load_entrypoints=False, clock=lambda: clock["now"]) as p:
        for _day, clock["now"] in feed_by_day(summary, DAYS, BASE, tmp / "live"):
            p.run(tmp / "live")
            p.alerts(now=clock["now"])
    return Replayed(db=tmp / "shop.db", end_of_data=clock["now"])


def open_replayed(replayed: Replayed) -> Pipeline:
    return Pipeline(replayed.db, load_entrypoints=False, clock=lambda: replayed.end_of_data)
