"""The state one generator run shares between its parts (orders, stream, inventory).

The generator is one object made of mixins, one per module; they all read and write
the attributes set here. Several random streams are seeded apart (catalog, orders,
inventory, injected anomalies) so that each part draws only from its own.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

from .cases import BAD_RECORD_KEYS
from .catalog import _Catalog
from .constants import _EPOCH
from .formats import _Clock


class _GeneratorState:
    """Attributes, random streams and counters of one run, and the helpers all parts use."""

    # set by _Generator.run once the catalog is written
    cat: _Catalog
    valid_products: list[int]
    cum_weights: list[float]
    n_customers: int
    addr_salt: int
    sold: list[int]
    # set by _Orders._assign_mandatory_cases
    warn_at: dict[int, str]
    errors_at: dict[int, list[str]]
    leftover_errors: list[str]

    def __init__(
        self,
        out_dir: Path,
        *,
        orders: int,
        days: int,
        seed: int,
        start: date,
        products: int,
        warehouses: tuple[str, ...],
        spikes: dict[tuple[int, int], float] | None = None,
        drops: dict[tuple[int, int], float] | None = None,
        silent: list[tuple[str, float, float]] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.n_orders = orders
        self.days = days
        self.hours = days * 24
        self.base = (start - _EPOCH).days * 86400
        self.end = self.base + days * 86400
        self.warehouses = warehouses
        self.clock = _Clock()
        self.rng_cat = random.Random(f"fastcommerce-sample:{seed}:catalog")
        self.rng = random.Random(f"fastcommerce-sample:{seed}:orders")
        self.rng_inv = random.Random(f"fastcommerce-sample:{seed}:inventory")
        self.n_products = products

        self.bad = dict.fromkeys(BAD_RECORD_KEYS, 0)
        self.cases: dict[str, int] = {}
        # pending lines: one bucket per arrival hour; only the hour being written is
        # kept as a heap (ordered by arrival time, then by a sequence number)
        self.buckets: dict[int, list[tuple[Any, ...]]] = {}
        self.current: list[tuple[Any, ...]] = []
        self.current_hour = -1
        self.seq = 0
        self.order_events = 0
        self.order_lines = 0
        self.dup_lines = 0
        self.reformatted = 0
        self.error_lines = 0
        self.delayed = 0
        self.dup_scheduled = 0
        self.reformat_scheduled = 0
        self.forced_out_of_order = False
        self.forced_cross_day = days < 2
        self.next_serial = 0
        self.orders_written = 0

        # injected anomalies (see write_sample): {(hour index, channel index): factor}
        self.spikes = dict(spikes or {})
        self.drops = dict(drops or {})
        self.spike_at: dict[int, list[tuple[int, float]]] = {}
        for (h, ch), factor in sorted(self.spikes.items()):
            self.spike_at.setdefault(h, []).append((ch, factor))
        self.drop_at: dict[int, dict[int, float]] = {}
        for (h, ch), factor in sorted(self.drops.items()):
            self.drop_at.setdefault(h, {})[ch] = factor
        self.drop_now: dict[int, float] | None = None
        self.hour_counts = [0, 0, 0]  # orders placed per channel in the hour being made
        self.dropped_now = [0, 0, 0]
        self.rate_counts: dict[tuple[int, int], tuple[int, int]] = {}  # (normal, written)
        self.silent = list(silent or [])
        self.silent_orders = [(s, e) for src, s, e in self.silent if src == "orders"]
        self.silent_inv = [(s, e) for src, s, e in self.silent if src == "inventory"]
        self.lost_lines = [0] * len(self.silent)
        self.lost_orders = [0] * len(self.silent)
        # spike orders: serials of their own, far from those of the regular orders and
        # of the synthetic carriers (a mandatory case is tied to a regular serial)
        self.extra_serial = orders + 10000
        self.rng_inj = random.Random(f"fastcommerce-sample:{seed}:inject")

    @staticmethod
    def _window(windows: list[tuple[float, float]], lo: float, hi: float) -> int:
        """Index of the first window that overlaps [lo, hi), or -1."""
        for i, (s, e) in enumerate(windows):
            if lo < e and hi > s:
                return i
        return -1

    def _silent_index(self, source: str, lo: float, hi: float) -> int:
        """Index in ``self.silent`` of the first ``source`` window overlapping [lo, hi)."""
        for i, (src, s, e) in enumerate(self.silent):
            if src == source and lo < e and hi > s:
                return i
        return -1

    def _count(self, code: str, case: str) -> None:
        self.bad[code] += 1
        key = f"{code}/{case}"
        self.cases[key] = self.cases.get(key, 0) + 1
