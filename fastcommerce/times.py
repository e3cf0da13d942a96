"""The log's one text form of a time: UTC, fixed width, so text order is time order."""

from __future__ import annotations

import functools
from datetime import datetime, timezone


@functools.lru_cache(maxsize=256)
def format_time(moment: datetime) -> str:
    """Stored form of a time: UTC, fixed width (``2024-01-15T10:30:00.000000Z``), so text
    order is time order (isoformat pads every year to four digits). Cached: an event's time
    is formatted at ingest and again for its canonical row."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times in the log are timezone-aware UTC")
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    text = moment.isoformat(timespec="microseconds")
    return text[:26] + "Z"


@functools.lru_cache(maxsize=4096)
def parse_time(text: str | None) -> datetime | None:
    """Inverse of :func:`format_time` (cached: a batch shares a few recorded times, and
    records recorded together then share one object, whose hash is computed once)."""
    if text is None:
        return None
    return datetime.fromisoformat(text)
