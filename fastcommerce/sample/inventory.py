"""Inventory: stock levels per product and warehouse, written as hourly CSV batches.

Levels start from a snapshot, go down with the hour's sales and are restocked near the
reorder point; some batches arrive late, some rows twice, and a few rows are bad (every
inventory case at least once). Its random stream is its own, apart from the orders'.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

from .cases import _INVENTORY_CASES
from .constants import _P_BAD_ROW_PER_BATCH, _P_DUP_ROW, _P_LATE_BATCH, _P_ROW_IN_BATCH
from .state import _GeneratorState


class _Inventory(_GeneratorState):
    """The inventory levels and the writer of ``inventory_updates.csv``."""

    def _init_inventory(self) -> None:
        rng = self.rng_inv
        cat = self.cat
        n_wh = len(self.warehouses)
        n = len(cat.ids)
        wsum = sum(cat.weights) or 1.0
        # expected units per day per (product, warehouse): about 1.7 items x 2 units
        daily = [self.n_orders / self.days * 3.4 * w / wsum / n_wh for w in cat.weights]
        self.inv_daily = daily
        active = [i for i in range(n) if cat.active[i]] or list(range(n))
        n_low = min(len(active), max(1, n // 12))
        self.low_stock = sorted(rng.sample(active, n_low))
        low = set(self.low_stock)
        self.is_low = [i in low for i in range(n)]
        self.levels = []
        for p in range(n):
            rp = cat.reorder_point[p]
            if self.is_low[p]:
                row = [rp // n_wh + int(daily[p] * rng.uniform(0.5, 1.5)) for _ in range(n_wh)]
            else:
                row = [
                    rp + int(daily[p] * rng.uniform(2, 6)) + rng.randint(5, 40) for _ in range(n_wh)
                ]
            self.levels.append(row)
        # warehouse shares of the sales: first warehouse busiest
        shares = [n_wh - i for i in range(n_wh)]
        self.wh_shares = [s / sum(shares) for s in shares]
        self.bad_rows_at: dict[int, list[str]] = {}
        for name, _ in _INVENTORY_CASES:
            self.bad_rows_at.setdefault(rng.randrange(self.hours), []).append(name)
        self.inv_heap: list[tuple[Any, ...]] = []
        self.inv_seq = 0
        self.inv_rows = 0
        self.inv_dup_rows = 0
        self.inv_late_batches = 0  # written
        self.inv_late_scheduled = 0
        self.inv_dup_scheduled = 0
        self.inv_seen_bad: set[str] = set()
        self.inv_case_code = dict(_INVENTORY_CASES)

    def _row(self, p: int, w: int, ts: int) -> str:
        level = self.levels[p][w]
        reserved = self.rng_inv.randint(0, min(level, 8))
        return f"{self.cat.ids[p]},{level},{self.warehouses[w]},{self.clock.z(ts)},{reserved}"

    def _inventory_snapshot(self, fi: Any) -> None:
        rng = self.rng_inv
        lines = []
        for p in range(len(self.cat.ids)):
            for w in range(len(self.warehouses)):
                lines.append(self._row(p, w, self.base + rng.randrange(300)))
        lost = self._inventory_lost(self.base, len(lines))
        if not lost:
            self._write_rows(fi, lines)

    def _inventory_lost(self, batch_time: int, rows: int) -> bool:
        """Whether a batch of ``rows`` rows written at ``batch_time`` (its rows stamped up
        to 300 s later) falls in a silent window of the inventory source; counts them."""
        if not self.silent_inv:
            return False
        i = self._silent_index("inventory", batch_time, batch_time + 300)
        if i < 0:
            return False
        self.lost_lines[i] += rows
        return True

    def _write_rows(self, fi: Any, lines: Iterable[str]) -> None:
        lines = list(lines)
        if lines:
            fi.write("\n".join(lines) + "\n")
            self.inv_rows += len(lines)

    def _inventory_hour(self, h: int, fi: Any) -> None:
        rng = self.rng_inv
        cat = self.cat
        n_wh = len(self.warehouses)
        shares = self.wh_shares
        last = h == self.hours - 1
        # sales of the hour, split over the warehouses
        for p, units in enumerate(self.sold):
            if not units:
                continue
            row = self.levels[p]
            left = units
            for w in range(n_wh - 1):
                take = min(left, int(units * shares[w] + rng.random()))
                row[w] = max(0, row[w] - take)
                left -= take
            row[n_wh - 1] = max(0, row[n_wh - 1] - left)
            self.sold[p] = 0

        batch_time = self.base + h * 3600 + 3300
        silent = bool(self.silent_inv) and self._window(self.silent_inv, batch_time, batch_time + 300) >= 0
        lines: list[str] = []
        pairs: list[tuple[int, int]] = []
        for p in range(len(cat.ids)):
            rp = cat.reorder_point[p]
            for w in range(n_wh):
                changed = False
                if self.is_low[p]:
                    if last:
                        self.levels[p][w] = min(self.levels[p][w], rp // n_wh)
                        changed = True
                elif self.levels[p][w] <= rp + self.inv_daily[p] * 0.5 and rng.random() < 0.35:
                    self.levels[p][w] += rp + 20 + int(self.inv_daily[p] * rng.uniform(3, 6))
                    changed = True
                if changed or rng.random() < _P_ROW_IN_BATCH:
                    pairs.append((p, w))
        for p, w in pairs:
            ts = batch_time + rng.randrange(300)
            line = self._row(p, w, ts)
            lines.append(line)
            if not silent and ((self.inv_dup_scheduled == 0 and h >= 1) or rng.random() < _P_DUP_ROW):
                self.inv_dup_scheduled += 1
                self.inv_seq += 1
                heapq.heappush(
                    self.inv_heap, (h + rng.randint(1, 3), 2, self.inv_seq, [line], True, ())
                )
        # bad rows
        cases = self.bad_rows_at.pop(h, [])
        bad_keys: list[tuple[str, str]] = []  # counted when (if) the batch is written
        if rng.random() < _P_BAD_ROW_PER_BATCH:
            cases.append(_INVENTORY_CASES[rng.randrange(len(_INVENTORY_CASES))][0])
        for name in cases:
            bad = self._bad_row(name, batch_time)
            if bad in self.inv_seen_bad:  # never an exact duplicate
                continue
            self.inv_seen_bad.add(bad)
            lines.insert(rng.randrange(len(lines) + 1), bad)
            code = self.inv_case_code[name]
            bad_keys.append((code, f"{code}/{name}"))
        rng.shuffle(lines)

        # some batches arrive after the batch two or more hours later
        forced = h == 1 and self.hours >= 4 and self.inv_late_scheduled == 0
        self.inv_seq += 1
        if not last and (forced or rng.random() < _P_LATE_BATCH):
            due, prio = h + rng.randint(2, 4), 1
        else:
            due, prio = h, 0
        if silent:  # the feed is down: the batch is never sent
            self.lost_lines[self._silent_index("inventory", batch_time, batch_time + 300)] += len(lines)
        else:
            self.inv_late_scheduled += prio
            heapq.heappush(self.inv_heap, (due, prio, self.inv_seq, lines, False, tuple(bad_keys)))
        while self.inv_heap and self.inv_heap[0][0] <= h:
            self._write_batch(fi, heapq.heappop(self.inv_heap), h)

    def _write_batch(self, fi: Any, entry: tuple[Any, ...], slot: int) -> None:
        """Write a batch (or re-delivered rows) in the batch slot of hour ``slot``."""
        _, prio, _, lines, is_dup, bad_keys = entry
        if self._inventory_lost(self.base + slot * 3600 + 3300, len(lines)):
            return
        self._write_rows(fi, lines)
        if is_dup:
            self.inv_dup_rows += len(lines)
        if prio == 1:
            self.inv_late_batches += 1
        for code, key in bad_keys:
            self.bad[code] += 1
            self.cases[key] = self.cases.get(key, 0) + 1

    def _inventory_finish(self, fi: Any) -> None:
        while self.inv_heap:
            entry = heapq.heappop(self.inv_heap)
            self._write_batch(fi, entry, entry[0])

    def _bad_row(self, name: str, batch_time: int) -> str:
        rng = self.rng_inv
        p = rng.randrange(len(self.cat.ids))
        w = rng.randrange(len(self.warehouses))
        pid = self.cat.ids[p]
        wh = self.warehouses[w]
        level = self.levels[p][w]
        ts = self.clock.z(batch_time + rng.randrange(300))
        reserved = rng.randint(0, 8)
        qty = str(level)
        if name == "too_few_fields":
            return f"{pid},{level},{wh}"
        if name == "too_many_fields":
            return f"{pid},{level},{wh},{ts},{reserved},EXTRA"
        if name == "quantity_negative":
            qty = f"-{rng.randint(1, 9)}"
        elif name == "quantity_decimal":
            qty = f"{level}.5"
        elif name == "quantity_text":
            qty = "abc"
        elif name == "quantity_plus_sign":
            qty = f"+{level}"
        elif name == "product_id_empty":
            pid = ""
        elif name == "warehouse_empty":
            wh = ""
        elif name == "timestamp_no_offset":
            ts = ts[:-1]
        elif name == "product_unknown":
            pid = self.cat.unknown_id
        return f"{pid},{qty},{wh},{ts},{reserved}"
