"""What the command line prints for people, beside the tables: the short alert list after
``run``'s summary, in place of the structured alert lines a log shipper reads."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import structlog

SHOWN_ALERTS = 10
"""Alerts listed after ``run``'s summary; the rest are counted (``fastcommerce alerts`` lists all)."""


def drop_alert_lines(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor for a terminal without ``-v``: the alert sink's log lines are
    dropped (the command lists the alerts itself, after its summary). JSON logs and ``-v``
    keep them."""
    if str(event_dict.get("event", "")).startswith("alert_"):
        raise structlog.DropEvent
    return event_dict


def alert_lines(result: Any) -> list[str]:
    """One short line per alert raised or resolved by an evaluation, critical first."""
    notes = [*result.raised, *result.resolved]
    order = {"critical": 0, "warning": 1}
    notes.sort(key=lambda n: (n.kind != "raised", order.get(n.finding.severity, 2), n.finding.rule, n.finding.key))
    lines = [f"  {n.kind:<8} {n.finding.severity:<8} {n.finding.rule:<16} {n.finding.message}"
             for n in notes[:SHOWN_ALERTS]]
    if len(notes) > SHOWN_ALERTS:
        lines.append(f"  ... and {len(notes) - SHOWN_ALERTS:,} more")
    return lines
