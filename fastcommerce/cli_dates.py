"""The dates ``fastcommerce report`` covers: ``--date``, ``--from``/``--to``, ``--days N``,
``--last-week``, ``--all-days``, and the words ``today`` and ``yesterday``.

Everything relative is turned into dates here, against the pipeline's clock (UTC), before a
report is called: report functions never read a clock. What was applied is said back in one
line (:func:`describe`), printed above a table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import attrs
import click

WORDS = ("today", "yesterday")


class Day(click.ParamType):
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (UTC); a word is resolved later, against the clock."""

    name = "DAY"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> date | str:
        if isinstance(value, date):
            return value
        text = str(value).strip().lower()
        if text in WORDS:
            return text
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD), 'today' or 'yesterday'", param, ctx)


DAY = Day()


def date_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The date options of ``report``, as one decorator (the command takes them as keywords)."""
    for option in reversed([
        click.option("--date", "on", type=DAY, help="One day (UTC): YYYY-MM-DD, today or yesterday."),
        click.option("--from", "start", type=DAY, help="First day of the range."),
        click.option("--to", "end", type=DAY, help="Last day of the range."),
        click.option("--days", type=click.IntRange(min=1), metavar="N",
                     help="N days: ending --to, or starting --from, else ending yesterday (UTC)."),
        click.option("--last-week", is_flag=True, help="The previous calendar week, Monday to Sunday (UTC)."),
        click.option("--all-days", is_flag=True, help="Every date there is (revenue otherwise shows the "
                     "latest day only; --all means every row, not every day)."),
    ]):
        command = option(command)
    return command


@attrs.frozen(kw_only=True, slots=True)
class Period:
    """The report's date options, resolved: ``on`` or ``start``/``end`` as dates (``None``:
    the report's default), ``all_days``, and how they were chosen, for :func:`describe`."""

    on: date | None = None
    start: date | None = None
    end: date | None = None
    all_days: bool = False
    how: str = ""

    def options(self) -> dict[str, Any]:
        """The keywords a report function takes."""
        out: dict[str, Any] = {"on": self.on, "start": self.start, "end": self.end}
        if self.all_days:
            out["all_days"] = True
        return out


def _day(value: date | str | None, today: date) -> date | None:
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    return value  # type: ignore[return-value]


def resolve(today: date, *, on=None, start=None, end=None, days: int | None = None, last_week: bool = False,
            all_days: bool = False) -> Period:
    """The options as dates, or a ``click.UsageError`` naming the ones that contradict each other."""
    given = [name for name, v in (("--date", on), ("--from", start), ("--to", end), ("--days", days),
                                  ("--last-week", last_week), ("--all-days", all_days)) if v]
    on, start, end = _day(on, today), _day(start, today), _day(end, today)
    if (on is not None or last_week or all_days) and len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} contradict each other: give one "
                               "(--days goes with --from or --to)")
    if days is not None and start is not None and end is not None:
        raise click.UsageError("--days with both --from and --to: give two of them")
    if on is not None:
        return Period(on=on, how="--date")
    if all_days:
        return Period(all_days=True, how="--all-days: every date")
    if last_week:
        monday = today - timedelta(days=today.weekday() + 7)
        return Period(start=monday, end=monday + timedelta(days=6), how="--last-week: Monday to Sunday")
    if days is not None:
        if start is not None:
            end = start + timedelta(days=days - 1)
        else:
            end = end or today - timedelta(days=1)
            start = end - timedelta(days=days - 1)
        return Period(start=start, end=end, how=f"--days {days}")
    if start is not None and end is not None and start > end:
        raise click.UsageError(f"--from {start} is after --to {end}")
    if start is None and end is None:
        return Period(how="no dates given: the report's default; --date, --days N, --from/--to, --last-week "
                          "or --all-days choose others")
    return Period(start=start, end=end, how="--from/--to" if start and end else
                  ("--from: to the last date there is" if start else "--to: from the first date there is"))


def describe(period: Period, summary: dict[str, Any]) -> str:
    """The dates a report covered, in words: from its summary's ``from``/``to`` (or ``date``)
    when it has them, else from what was asked; with how they were chosen."""
    lo = summary.get("from", summary.get("date"))
    hi = summary.get("to", lo)
    if lo is None and hi is None:
        lo = (period.on or period.start)
        hi = (period.on or period.end)
    if lo is None and hi is None:
        span = "every date" if ("from" not in summary and "date" not in summary) else "no dates (no data)"
    elif lo == hi:
        span = str(lo)
    else:
        span = f"{lo or 'the first date'} to {hi or 'the last date'}"
    return f"dates: {span} ({period.how})"
