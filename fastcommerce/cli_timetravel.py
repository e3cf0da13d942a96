"""``report --as-of`` and ``report --changes-since``: the report command's time travel options.

Kept here, beside the command, so ``cli.py`` only names them; the work is
:mod:`fastcommerce.timetravel`'s (through the pipeline's methods).
"""

from __future__ import annotations

from typing import Any

AS_OF_OPTION: dict[str, Any] = {
    "metavar": "OFFSET|TIMESTAMP", "default": None,
    "help": "The report as it stood when the log ended at this offset, or at the last offset recorded at or "
            "before this time (2024-01-15T12:00:00Z); built in a scratch database, the live tables untouched."}
CHANGES_SINCE_OPTION: dict[str, Any] = {
    "metavar": "OFFSET|TIMESTAMP", "default": None,
    "help": "revenue: the days whose revenue changed since the log ended there (then, now, restated or not), "
            "with the order events (offsets, order ids) behind each."}


def travelled_report(pipeline: Any, name: str, options: dict[str, Any], *, as_of: str | None,
                     changes_since: str | None) -> Any:
    """The report the options ask for: as of an offset or time, the changes since one, or
    the report as it stands. ``ValueError`` for a bad combination (a usage error)."""
    if changes_since is not None:
        if as_of is not None:
            raise ValueError("--as-of and --changes-since contradict each other: give one")
        if name != "revenue":
            raise ValueError("--changes-since applies to the revenue report only")
        return pipeline.revenue_changes_since(changes_since)
    return pipeline.report(name, as_of=as_of, **options)
