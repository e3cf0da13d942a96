"""``SampleSummary``: what one ``write_sample`` run wrote, the ground truth for tests.

Kept apart from the generator so that readers of a summary need not import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs


def _copy_dict(value: Any) -> dict[str, int]:
    return dict(value)


def _copy_records(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value]


@attrs.frozen
class SampleSummary:
    """What ``write_sample`` wrote. All counts are lines/records actually written."""

    out_dir: Path
    catalog_path: Path
    inventory_path: Path
    orders_path: Path
    #: orders with at least one valid event (the synthetic carriers of error cases,
    #: whose only line is quarantined, are not counted)
    orders: int
    #: lines rendered from the orders' own lifecycle events (first delivery only)
    order_events: int
    #: every line of the order file (= order_events + duplicate_lines
    #: + reformatted_lines + error_lines)
    order_lines: int
    duplicate_lines: int
    reformatted_lines: int
    #: injected error lines (each carries exactly one error code)
    error_lines: int
    #: events written out of timestamp order on purpose: hours to days late, or after
    #: a later event of the same order (a ``shipped`` before its ``confirmed``)
    delayed_events: int
    #: inventory data rows (header excluded), bad and re-delivered rows included
    inventory_rows: int
    inventory_duplicate_rows: int
    inventory_late_batches: int
    #: entries of the catalog's product list, bad ones included
    catalog_products: int
    bad_records: dict[str, int] = attrs.field(converter=_copy_dict, hash=False)
    bad_cases: dict[str, int] = attrs.field(converter=_copy_dict, hash=False)
    #: the anomalies injected on request (``spikes``, ``drops``, ``silent``), in time
    #: order: one dict each, JSON-ready. Spikes and drops: ``kind`` ("spike"/"drop"),
    #: ``channel``, ``start`` and ``end`` of the hour (ISO, UTC), ``factor``, ``key`` (the
    #: alert key ``channel@YYYY-MM-DDTHH``), ``normal_orders`` (orders the channel placed
    #: in that hour before injection) and ``orders`` (orders actually written for it).
    #: Silent windows: ``kind`` "silent", ``source``, ``start``, ``end``, ``lost_lines``
    #: (lines or rows not written) and, for orders, ``lost_orders`` (orders that would
    #: have been placed in the window and were not generated).
    injected: list[dict[str, Any]] = attrs.field(factory=list, converter=_copy_records, hash=False)

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return (self.catalog_path, self.inventory_path, self.orders_path)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(SampleSummary):
            value = getattr(self, field.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, list):
                value = [dict(v) for v in value]
            out[field.name] = value
        return out
