"""The entry points: ``write_sample`` and the parsers of the command-line specs.

Arguments are checked here, before anything is written, and the anomaly specs turned
into the hour and channel indices the generator uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .constants import _EPOCH, CHANNELS, SILENT_SOURCES
from .formats import _iso
from .generator import _Generator
from .summary import SampleSummary


def write_sample(
    out_dir: Path | str,
    *,
    orders: int = 2000,
    days: int = 3,
    seed: int = 0,
    start: date = date(2024, 1, 15),
    products: int = 60,
    warehouses: tuple[str, ...] = ("WH-SF", "WH-NY", "WH-DAL"),
    spikes: Sequence[tuple[str, datetime, float]] = (),
    drops: Sequence[tuple[str, datetime, float]] = (),
    silent: Sequence[tuple[str, datetime, datetime]] = (),
) -> SampleSummary:
    """Write the catalog, inventory and order stream sample files into ``out_dir``.

    ``out_dir`` is created if missing; the three files in it are overwritten. The same
    arguments always produce byte-identical files. Orders are placed over ``days``
    UTC days from ``start``; their later events stop at the end of that window.

    Anomalies at known times (datetimes without a time zone are taken as UTC):

    * ``spikes``: ``(channel, hour, factor)``, factor > 1. The orders that ``channel``
      ("web", "mobile" or "api"; legacy v1 records count as web) places in the hour
      starting at ``hour`` become ``factor`` times as many: ``round((factor - 1) * n)``
      extra orders, ordinary in every other way, are placed in that hour.
    * ``drops``: ``(channel, hour, factor)``, 0 <= factor < 1. Each order of that channel
      and hour is kept with probability ``factor`` (orders that carry a mandatory
      bad-data case are always kept).
    * ``silent``: ``(source, start, end)``, source "inventory" or "orders". The source
      writes nothing in [start, end): inventory batches (re-deliveries and late batches
      included) whose rows would be stamped in the window are not written; order lines
      that would arrive in the window are not written, and orders that would be placed
      in it are not made (a lost mandatory error case moves to a synthetic order at the
      end; a lost warning case is lost).

    A channel and hour takes one spike or one drop at most; hours must lie within the
    sample's days. Without these arguments the output is unchanged. What was injected,
    and how many orders each spike or drop hour really got, is ``SampleSummary.injected``.
    """
    if orders < 0:
        raise ValueError("orders must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    if products < 1:
        raise ValueError("products must be >= 1")
    if not warehouses:
        raise ValueError("at least one warehouse is needed")
    if len(set(warehouses)) != len(warehouses):
        raise ValueError("warehouses must be distinct")
    base = (start - _EPOCH).days * 86400
    spike_map = _rate_map("spikes", spikes, base, days, lambda f: f > 1, "> 1")
    drop_map = _rate_map("drops", drops, base, days, lambda f: 0 <= f < 1, "in [0, 1)")
    both = sorted(set(spike_map) & set(drop_map))
    if both:
        h, ch = both[0]
        raise ValueError(f"{CHANNELS[ch]}@{_iso(base + h * 3600)[:13]} has both a spike and a drop")
    windows = []
    for spec in silent:
        try:
            source, s_at, e_at = spec
        except (TypeError, ValueError):
            raise ValueError(f"silent: expected (source, start, end), got {spec!r}") from None
        if source not in SILENT_SOURCES:
            raise ValueError(f"silent: unknown source {source!r} (known: {', '.join(SILENT_SOURCES)})")
        s_t, e_t = _utc_seconds("silent", s_at), _utc_seconds("silent", e_at)
        if not s_t < e_t:
            raise ValueError(f"silent: {source} window ends before it starts: {spec!r}")
        windows.append((source, s_t, e_t))
    gen = _Generator(
        Path(out_dir),
        orders=orders,
        days=days,
        seed=seed,
        start=start,
        products=products,
        warehouses=tuple(warehouses),
        spikes=spike_map,
        drops=drop_map,
        silent=windows,
    )
    return gen.run()


def _utc_seconds(what: str, value: Any) -> float:
    if not isinstance(value, datetime):
        raise ValueError(f"{what}: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _rate_map(
    what: str,
    specs: Sequence[tuple[str, datetime, float]],
    base: int,
    days: int,
    ok: Any,
    rule: str,
) -> dict[tuple[int, int], float]:
    out: dict[tuple[int, int], float] = {}
    for spec in specs:
        try:
            channel, hour, factor = spec
        except (TypeError, ValueError):
            raise ValueError(f"{what}: expected (channel, hour, factor), got {spec!r}") from None
        if channel not in CHANNELS:
            raise ValueError(f"{what}: unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
        t = _utc_seconds(what, hour)
        if t % 3600:
            raise ValueError(f"{what}: {hour!r} is not the start of an hour")
        h = int(t - base) // 3600
        if not 0 <= h < days * 24:
            raise ValueError(f"{what}: {_iso(t)} is outside the sample ({_iso(base)} + {days} days)")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not ok(factor):
            raise ValueError(f"{what}: factor must be a number {rule}, got {factor!r}")
        key = (h, CHANNELS.index(channel))
        if key in out:
            raise ValueError(f"{what}: {channel}@{_iso(t)[:13]} is given twice")
        out[key] = float(factor)
    return out


def _parse_time(text: str) -> datetime:
    """``YYYY-MM-DDTHH`` or any ISO 8601 time; without an offset, UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_rate_spec(text: str) -> tuple[str, datetime, float]:
    """``"web@2024-01-18T14=5"`` -> ``("web", datetime(2024, 1, 18, 14, tzinfo=UTC), 5.0)``:
    one ``spikes`` or ``drops`` entry of ``write_sample`` (for command-line options)."""
    try:
        where, factor = text.rsplit("=", 1)
        channel, hour = where.split("@", 1)
        return channel.strip(), _parse_time(hour), float(factor)
    except ValueError:
        raise ValueError(f"expected CHANNEL@YYYY-MM-DDTHH=FACTOR, got {text!r}") from None


def parse_silent_spec(text: str) -> tuple[str, datetime, datetime]:
    """``"inventory@2024-01-21T18/2024-01-22T00"`` -> ``("inventory", start, end)``: one
    ``silent`` entry of ``write_sample`` (for command-line options)."""
    try:
        source, window = text.split("@", 1)
        start, end = window.split("/", 1)
        return source.strip(), _parse_time(start), _parse_time(end)
    except ValueError:
        raise ValueError(f"expected SOURCE@START/END (ISO 8601 times, UTC), got {text!r}") from None
