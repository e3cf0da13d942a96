"""One run of the generator: the catalog, then orders and inventory hour by hour.

``_Generator`` puts the parts together (each a mixin over the shared state); ``run``
fixes the order in which they draw random numbers, and so the output.
"""

from __future__ import annotations

from .anomalies import _Anomalies
from .catalog import _write_catalog
from .constants import (
    _HOUR_SHAPE,
    CATALOG_FILE,
    INVENTORY_FILE,
    INVENTORY_HEADER,
    ORDERS_FILE,
)
from .draws import _largest_remainder
from .inventory import _Inventory
from .summary import SampleSummary


class _Generator(_Anomalies, _Inventory):
    """Writes the three files of one sample (see ``write_sample``)."""

    def run(self) -> SampleSummary:
        out = self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        cat = _write_catalog(out / CATALOG_FILE, self.rng_cat, self.n_products)
        self.cat = cat
        for key, n in cat.bad.items():
            self.bad[key] += n
        self.valid_products = list(range(len(cat.ids)))
        cum = 0.0
        self.cum_weights = []
        for w in cat.weights:
            cum += w
            self.cum_weights.append(cum)
        rng = self.rng
        n_customers = max(10, self.n_orders * 3 // 10 + 1)
        self.n_customers = n_customers
        self.addr_salt = rng.getrandbits(32)
        self.sold = [0] * len(cat.ids)

        # orders per hour: daily shape x a random factor per day
        day_factor = [rng.uniform(0.85, 1.15) for _ in range(self.days)]
        weights = [day_factor[h // 24] * _HOUR_SHAPE[h % 24] for h in range(self.hours)]
        per_hour = _largest_remainder(self.n_orders, weights)

        self._assign_mandatory_cases()
        self._init_inventory()

        orders_path = out / ORDERS_FILE
        inv_path = out / INVENTORY_FILE
        with (
            open(orders_path, "wb", buffering=1 << 20) as fo,
            open(inv_path, "w", encoding="utf-8", newline="") as fi,
        ):
            fi.write(INVENTORY_HEADER + "\n")
            self._inventory_snapshot(fi)
            for h in range(self.hours):
                hour_start = self.base + h * 3600
                self.drop_now = self.drop_at.get(h)
                if self.drop_now is not None or h in self.spike_at:
                    self.hour_counts = [0, 0, 0]
                    self.dropped_now = [0, 0, 0]
                for _ in range(per_hour[h]):
                    self._order(hour_start + int(rng.random() * 3600))
                self._inject_hour(h, hour_start)
                buf: list[bytes] = []
                self._flush(h, buf)
                fo.write(b"".join(buf))
                self._inventory_hour(h, fi)
            self._fallback_cases()
            buf = []
            self._flush(None, buf)
            fo.write(b"".join(buf))
            self._inventory_finish(fi)

        return SampleSummary(
            out_dir=out,
            catalog_path=out / CATALOG_FILE,
            inventory_path=inv_path,
            orders_path=orders_path,
            orders=self.orders_written,
            order_events=self.order_events,
            order_lines=self.order_lines,
            duplicate_lines=self.dup_lines,
            reformatted_lines=self.reformatted,
            error_lines=self.error_lines,
            delayed_events=self.delayed,
            inventory_rows=self.inv_rows,
            inventory_duplicate_rows=self.inv_dup_rows,
            inventory_late_batches=self.inv_late_batches,
            catalog_products=cat.entries,
            bad_records=self.bad,
            bad_cases=dict(sorted(self.cases.items())),
            injected=self._injected(),
        )
