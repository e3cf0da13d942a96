"""One order as a JSON template, in each of the four variants of the data contract.

``_make_order`` picks the customer, items and prices (and applies a warning case to
them), then lays the order out as canonical web, mobile, api v3 or legacy v1; the
timestamp and status are left as placeholders, filled in per event when written.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from .cases import _WARNING_CODE
from .constants import API, MOBILE, WEB
from .draws import _between
from .formats import _money, _num
from .state import _GeneratorState

_US_ADDRESSES = (
    ("US", "CA", "San Francisco"),
    ("US", "CA", "Los Angeles"),
    ("US", "CA", "San Diego"),
    ("US", "NY", "New York"),
    ("US", "NY", "Buffalo"),
    ("US", "TX", "Dallas"),
    ("US", "TX", "Austin"),
    ("US", "TX", "Houston"),
    ("US", "WA", "Seattle"),
    ("US", "IL", "Chicago"),
    ("US", "MA", "Boston"),
    ("US", "FL", "Miami"),
    ("US", "CO", "Denver"),
    ("US", "GA", "Atlanta"),
    ("US", "OR", "Portland"),
    ("US", "AZ", "Phoenix"),
)
_ADDRESSES = (
    *_US_ADDRESSES,
    ("GB", None, "London"),
    ("GB", None, "Manchester"),
    ("DE", None, "Berlin"),
    ("DE", None, "München"),
    ("CA", None, "Toronto"),
    ("CA", None, "Montréal"),
)
_COUPONS = ("WINTER10", "FREESHIP", "VIP15", "WELCOME5")
_PARTNERS = ("shopbridge", "marketly", "dealhub")


class _OrderShapes(_GeneratorState):
    """Customers, items and the variant layouts of an order."""

    def _customer(self) -> tuple[str, tuple[str, str | None, str]]:
        # Zipf-ish: low customer numbers order much more often
        idx = int(self.n_customers * self.rng.random() ** 2.5)
        mix = ((idx + 1) * 0x9E3779B1 + self.addr_salt) & 0xFFFFFFFF
        mix ^= mix >> 15
        return f"CUST-{idx + 1:04d}", _ADDRESSES[mix % len(_ADDRESSES)]

    def _make_order(
        self, serial: int, variant: int, warn: str | None, *, count_sales: bool
    ) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
        rng = self.rng
        cat = self.cat
        oid = f"ORD-{100001 + serial}"
        cid, address = self._customer()
        country: str = address[0]
        state: str | None = address[1]
        city: str | None = address[2]

        random_ = rng.random
        n_items = min((1, 1, 1, 1, 1, 2, 2, 2, 3, 4)[int(random_() * 10)], len(cat.ids))
        pids: list[int] = []
        cum, top, last = self.cum_weights, self.cum_weights[-1], len(cat.ids) - 1
        while len(pids) < n_items:
            p = min(bisect_right(cum, random_() * top), last)
            if p not in pids:
                pids.append(p)
        items: list[list[Any]] = []  # [product, quantity, cents, price text override]
        for p in pids:
            qty = (1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5)[int(random_() * 13)]
            c = cat.cents[p]
            if random_() < 0.12:  # a discount of 5-20%: still within 50%
                c = c * (100 - 5 * _between(random_, 1, 4)) // 100
            items.append([p, qty, c, None])

        tags: tuple[tuple[str, str], ...] = ()
        total_adjust = 0
        if warn is not None:
            tags = ((_WARNING_CODE[warn], warn),)
            first = items[0]
            if warn == "price_deviation_double":
                first[2] = cat.cents[first[0]] * 2
            elif warn == "price_deviation_low":
                first[2] = cat.cents[first[0]] * 2 // 5
            elif warn in ("price_exactly_50pct_above", "price_exactly_50pct_below"):
                e = cat.even_product
                items = [it for it in items if it[0] != e] or items
                first = items[0]
                first[0] = e
                half = cat.cents[e] // 2
                first[2] = cat.cents[e] + (half if warn.endswith("above") else -half)
            elif warn == "price_trailing_zero":
                first[2] = cat.cents[first[0]]
                first[3] = _money(first[2]) + "0"
            elif warn == "address_no_city":
                city = None
            elif warn in ("address_us_no_state", "address_us_lower_no_state"):
                country, _, city = _US_ADDRESSES[rng.randrange(len(_US_ADDRESSES))]
                state = None
                if warn == "address_us_lower_no_state":
                    country = "us"
            elif warn == "total_off_by_one_cent_over":
                total_adjust = 1
            elif warn == "total_off_by_one_cent_under":
                total_adjust = -1

        if count_sales:
            sold = self.sold
            for p, qty, _, _ in items:
                sold[p] += qty

        ids = cat.ids
        addr: dict[str, Any] = {"country": country}
        if state is not None:
            addr["state"] = state
        if city is not None:
            addr["city"] = city

        d: dict[str, Any]
        if variant == WEB:
            d = {}
            if rng.random() < 0.05:
                d["schema_version"] = 2
            d["order_id"] = oid
            d["customer_id"] = cid
            d["timestamp"] = "@TS@"
            d["channel"] = "web"
            d["items"] = [
                {"product_id": ids[p], "quantity": q, "unit_price": _num(t or _money(c))}
                for p, q, c, t in items
            ]
            d["shipping_address"] = addr
            d["status"] = "@ST@"
        elif variant == MOBILE:
            d = {
                "order_id": oid,
                "customerId": cid,
                "timestamp": "@TS@",
                "channel": "mobile",
                "items": [
                    {"product_id": ids[p], "quantity": q, "unit_price": _money(c)}
                    for p, q, c, _ in items
                ],
                "shipping_address": addr,
                "status": "@ST@",
            }
        elif variant == API:
            if country == "US" and rng.random() < 0.3:
                addr["country"] = "us"
            elif country != "US" and rng.random() < 0.3:
                addr["country"] = country.lower()
            total = sum(q * c for _, q, c, _ in items) + total_adjust
            d = {"schema_version": 3, "order_id": oid, "customer_id": cid, "timestamp": "@TS@"}
            if rng.random() >= 0.05:  # else implied
                d["channel"] = "api"
            d["items"] = [
                {"product_id": ids[p], "quantity": q,
                 "price": {"amount": _money(c), "currency": "USD"}}
                for p, q, c, _ in items
            ]  # fmt: skip
            d["shipping_address"] = addr
            d["order_total"] = _money(total)
            d["coupon_code"] = _COUPONS[rng.randrange(4)] if rng.random() < 0.25 else None
            d["metadata"] = {
                "partner": _PARTNERS[rng.randrange(len(_PARTNERS))],
                "request_id": f"req-{rng.getrandbits(40):010x}",
            }
            d["status"] = "@ST@"
        else:  # LEGACY
            d = {
                "order_id": oid,
                "customer_id": cid,
                "timestamp": "@TS@",
                "items": [
                    {"product_id": ids[p], "quantity": q, "price": _num(t or _money(c))}
                    for p, q, c, t in items
                ],
            }
            d.update(addr)
            d["status"] = "@ST@"
        return d, tags
