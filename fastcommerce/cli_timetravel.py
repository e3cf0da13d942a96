"""``report --as-of`` and ``report --changes-since``: the report command's time travel options.

Kept here, beside the command, so ``cli.py`` only names them: their values go to
``ctx.meta`` (``expose_value=False``), not into the command's parameters. The work is
:mod:`fastcommerce.timetravel`'s (through the pipeline's methods).
"""

from __future__ import annotations

from typing import Any

import click


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta[f"fastcommerce.{param.name}"] = value


AS_OF_OPTION: dict[str, Any] = {
    "metavar": "OFFSET|TIMESTAMP", "default": None, "expose_value": False, "callback": _keep,
    "help": "The report as it stood when the log ended at this offset, or at the last offset recorded at or "
            "before this time (2024-01-15T12:00:00Z); built in a scratch database, the live tables untouched."}
CHANGES_SINCE_OPTION: dict[str, Any] = {
    "metavar": "OFFSET|TIMESTAMP", "default": None, "expose_value": False, "callback": _keep,
    "help": "revenue: the days whose revenue changed since the log ended there (then, now, restated or not), "
            "with the order events (offsets, order ids) behind each."}


def travelled_report(ctx: click.Context, pipeline: Any, name: str, options: dict[str, Any]) -> Any:
    """The report the options ask for: as of an offset or time, the changes since one, or
    the report as it stands. ``ValueError`` for a bad combination (a usage error)."""
    as_of, changes_since = ctx.meta.get("fastcommerce.as_of"), ctx.meta.get("fastcommerce.changes_since")
    if changes_since is not None:
        if as_of is not None:
            raise ValueError("--as-of and --changes-since contradict each other: give one")
        if name != "revenue":
            raise ValueError("--changes-since applies to the revenue report only")
        return pipeline.revenue_changes_since(changes_since)
    return pipeline.report(name, as_of=as_of, **options)
