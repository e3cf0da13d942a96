"""Deterministic sample data for the three FastCommerce inputs.

``write_sample`` writes, into one folder:

* ``product_catalog.json`` -- ``{"products": [...]}`` with a few bad entries;
* ``inventory_updates.csv`` -- hourly batches of stock levels, some batches late,
  some rows re-delivered, a few bad rows;
* ``orders_stream.jsonl`` -- one event per status change of each order, in the four
  variants of the data contract (canonical web, mobile, api v3, legacy v1), with
  re-deliveries, late and out-of-order events, re-formatted copies of events and
  every bad-data case of the contract.

The same arguments always give byte-identical files: all randomness comes from
``random.Random`` instances seeded from ``seed`` (string seeds, hashed with SHA-512 by
the standard library, never with ``hash()``), time comes from ``start`` only, and no
output depends on set or dict iteration order. The order stream is generated hour by
hour and written as it goes; the only buffers are the events not yet due (orders in
flight, at most a few days of them) and the current inventory levels, so memory does
not grow with the number of days.

Bad data. Every error case is an extra line: a corrupted copy of one event of a real
order (so the order itself stays consistent and the corrupted line is quarantined).
Every warning case (and every "edge case that must pass") is a whole real order whose
events all carry it. ``SampleSummary.bad_records`` counts, per code, the records that
carry it (re-deliveries excluded, since the pipeline counts those as duplicates, not
as records); ``SampleSummary.bad_cases`` gives the same counts per case name
(``"<code>/<case>"``). Keys for the non-order sources are prefixed ``inventory_`` and
``catalog_``. The keys ``total_off_by_one_cent_ok``, ``price_exactly_50pct_ok`` and
``price_trailing_zero_ok`` count valid records that sit exactly on a boundary of the
contract and must *not* be flagged.

Every case appears at least once when ``orders`` is at least the number of order
cases (about 55); with fewer orders every error case still appears (on synthetic
orders whose only line is the bad one), but some warning cases may be left out.

Anomalies at known times (all off by default; without them the output is what it always
was). ``spikes`` multiply the orders one channel places in one hour; ``drops`` keep only a
share of them; ``silent`` windows make a source write nothing for a while. What was
injected, with the order counts actually written, is in ``SampleSummary.injected``: the
ground truth for tests and benchmarks of the anomaly rules (see ``write_sample``).
"""

from __future__ import annotations

import copy
import heapq
import json
import random
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import attrs

__all__ = [
    "BAD_RECORD_KEYS",
    "CATALOG_FILE",
    "INVENTORY_FILE",
    "ORDERS_FILE",
    "CHANNELS",
    "SILENT_SOURCES",
    "SampleSummary",
    "parse_rate_spec",
    "parse_silent_spec",
    "write_sample",
]

CATALOG_FILE = "product_catalog.json"
INVENTORY_FILE = "inventory_updates.csv"
ORDERS_FILE = "orders_stream.jsonl"

INVENTORY_HEADER = "product_id,available_quantity,warehouse_location,last_updated,reserved_quantity"

# --------------------------------------------------------------------------- constants

WEB, MOBILE, API, LEGACY = 0, 1, 2, 3
_ALL = (WEB, MOBILE, API, LEGACY)
#: the sales channel of each variant (a legacy v1 record has none: it is upcast to web)
_CHANNEL_OF = (0, 1, 2, 0)
#: channels, as the pipeline names them (index = ``_CHANNEL_OF`` value)
CHANNELS = ("web", "mobile", "api")
#: sources a ``silent`` window may stop
SILENT_SOURCES = ("inventory", "orders")
# cumulative shares: web 50%, mobile 20%, api 20%, legacy 10%
_VARIANT_CUM = (0.5, 0.7, 0.9, 1.0)

_STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
_STATUSES_UP = tuple(s.upper() for s in _STATUSES)
_PENDING, _CONFIRMED, _SHIPPED, _DELIVERED, _CANCELLED, _REFUNDED = range(6)

_ORDER_ERROR_CODES = (
    "malformed_record",
    "unknown_schema",
    "missing_field",
    "invalid_timestamp",
    "invalid_item",
    "invalid_status",
    "unknown_product",
    "total_mismatch",
    "unsupported_currency",
)
_ORDER_WARNING_CODES = ("price_deviation", "incomplete_address")
_ORDER_OK_KEYS = ("total_off_by_one_cent_ok", "price_exactly_50pct_ok", "price_trailing_zero_ok")
_INVENTORY_KEYS = (
    "inventory_malformed_record",
    "inventory_missing_field",
    "inventory_invalid_quantity",
    "inventory_invalid_timestamp",
    "inventory_unknown_product",
)
_CATALOG_KEYS = ("catalog_malformed_record", "catalog_missing_field", "catalog_invalid")

#: Every key of ``SampleSummary.bad_records``, in the order they are reported.
BAD_RECORD_KEYS = (
    _ORDER_ERROR_CODES + _ORDER_WARNING_CODES + _ORDER_OK_KEYS + _INVENTORY_KEYS + _CATALOG_KEYS
)

# (case, code, variants it applies to, may repeat). Error cases: extra corrupted lines.
_ERROR_CASES: tuple[tuple[str, str, tuple[int, ...], bool], ...] = (
    ("invalid_json_truncated", "malformed_record", _ALL, True),
    ("invalid_json_single_quotes", "malformed_record", _ALL, True),
    ("invalid_json_trailing_comma", "malformed_record", _ALL, True),
    ("json_array", "malformed_record", _ALL, True),
    ("json_number", "malformed_record", _ALL, True),
    ("invalid_utf8", "malformed_record", _ALL, True),
    # these can only be written once each: a second copy would be an exact duplicate
    ("empty_line", "malformed_record", _ALL, False),
    ("whitespace_space", "malformed_record", _ALL, False),
    ("whitespace_tab", "malformed_record", _ALL, False),
    ("whitespace_mixed", "malformed_record", _ALL, False),
    ("schema_version_7", "unknown_schema", _ALL, True),
    ("schema_version_three", "unknown_schema", _ALL, True),
    ("order_id_absent", "missing_field", _ALL, True),
    ("order_id_empty", "missing_field", _ALL, True),
    # without customerId a mobile record is no longer mobile-shaped: not for mobile
    ("customer_id_absent", "missing_field", (WEB, API, LEGACY), True),
    ("customer_id_empty", "missing_field", _ALL, True),
    ("timestamp_absent", "missing_field", _ALL, True),
    ("items_absent", "missing_field", _ALL, True),
    ("status_absent", "missing_field", _ALL, True),
    ("timestamp_no_offset", "invalid_timestamp", _ALL, True),
    ("timestamp_garbage", "invalid_timestamp", _ALL, True),
    ("timestamp_far_future", "invalid_timestamp", _ALL, True),
    ("timestamp_space_separator", "invalid_timestamp", _ALL, True),
    ("items_empty", "invalid_item", _ALL, True),
    ("quantity_zero", "invalid_item", _ALL, True),
    ("quantity_negative", "invalid_item", _ALL, True),
    ("quantity_fraction", "invalid_item", _ALL, True),
    ("quantity_string", "invalid_item", _ALL, True),
    ("price_negative", "invalid_item", _ALL, True),
    ("price_not_number", "invalid_item", _ALL, True),
    ("price_three_decimals", "invalid_item", _ALL, True),
    ("status_lost", "invalid_status", _ALL, True),
    ("product_unknown", "unknown_product", _ALL, True),
    ("total_off_by_five", "total_mismatch", (API,), True),
    ("total_off_by_two_cents", "total_mismatch", (API,), True),
    ("currency_eur", "unsupported_currency", (API,), True),
    ("currency_gbp", "unsupported_currency", (API,), True),
)

# Warning / boundary cases: applied to a whole real order (all its events carry it).
_WARNING_CASES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("price_deviation_double", "price_deviation", _ALL),
    ("price_deviation_low", "price_deviation", _ALL),
    ("address_no_city", "incomplete_address", _ALL),
    ("address_us_no_state", "incomplete_address", _ALL),
    ("address_us_lower_no_state", "incomplete_address", (API,)),
    ("total_off_by_one_cent_over", "total_off_by_one_cent_ok", (API,)),
    ("total_off_by_one_cent_under", "total_off_by_one_cent_ok", (API,)),
    ("price_exactly_50pct_above", "price_exactly_50pct_ok", _ALL),
    ("price_exactly_50pct_below", "price_exactly_50pct_ok", _ALL),
    ("price_trailing_zero", "price_trailing_zero_ok", (WEB, LEGACY)),
)

_ERROR_CODE = {name: code for name, code, _, _ in _ERROR_CASES}
_ERROR_VARIANTS = {name: variants for name, _, variants, _ in _ERROR_CASES}
_WARNING_CODE = {name: code for name, code, _ in _WARNING_CASES}
_WARNING_VARIANTS = {name: variants for name, _, variants in _WARNING_CASES}
_REPEATABLE_ERRORS = {
    v: tuple(name for name, _, variants, rep in _ERROR_CASES if rep and v in variants) for v in _ALL
}
_WARNINGS_FOR = {
    v: tuple(name for name, _, variants in _WARNING_CASES if v in variants) for v in _ALL
}

_INVENTORY_CASES: tuple[tuple[str, str], ...] = (
    ("too_few_fields", "inventory_malformed_record"),
    ("too_many_fields", "inventory_malformed_record"),
    ("quantity_negative", "inventory_invalid_quantity"),
    ("quantity_decimal", "inventory_invalid_quantity"),
    ("quantity_text", "inventory_invalid_quantity"),
    ("quantity_plus_sign", "inventory_invalid_quantity"),
    ("product_id_empty", "inventory_missing_field"),
    ("warehouse_empty", "inventory_missing_field"),
    ("timestamp_no_offset", "inventory_invalid_timestamp"),
    ("product_unknown", "inventory_unknown_product"),
)

# rates
_P_ERROR_PER_ORDER = 0.03  # extra corrupted copy of one of the order's events
_P_WARNING_PER_ORDER = 0.002
_P_LATE = 0.03  # event written hours to days after its timestamp order
_P_DUP = 0.02  # event line re-delivered byte-identically later
_P_REFORMAT = 0.003  # same event again, different key order and spacing
_P_LATE_BATCH = 0.06
_P_DUP_ROW = 0.004
_P_BAD_ROW_PER_BATCH = 0.05
_P_ROW_IN_BATCH = 0.3

# more orders in the afternoon and evening (UTC hours 0..23)
_HOUR_SHAPE = (
    2.0, 1.2, 0.8, 0.6, 0.6, 0.8, 1.5, 2.5, 3.5, 4.0, 4.5, 5.0,
    5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 8.0, 6.5, 4.5, 3.0,
)  # fmt: skip

_CATEGORIES = (
    # name, min dollars, max dollars, nouns
    ("Electronics", 19, 499, ("Headphones", "Speaker", "Charger", "Keyboard", "Webcam", "Monitor")),
    ("Home", 9, 199, ("Lamp", "Kettle", "Blender", "Throw Blanket", "Cookware Set", "Vase")),
    ("Apparel", 12, 149, ("T-Shirt", "Hoodie", "Jacket", "Sneakers", "Scarf", "Jeans")),
    ("Books", 7, 49, ("Cookbook", "Novel", "Field Guide", "Atlas", "Journal", "Biography")),
    ("Sports", 14, 299, ("Yoga Mat", "Dumbbells", "Water Bottle", "Tent", "Helmet", "Backpack")),
    ("Beauty", 5, 89, ("Face Cream", "Shampoo", "Perfume", "Lip Balm", "Sunscreen", "Soap Set")),
)
_BRANDS = ("Acme", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Müller & Söhne")
_TAGS = ("bestseller", "new", "eco", "gift", "limited", "clearance", "premium")
_CENT_ENDINGS = (99, 49, 95, 0, 50, 25, 89, 79)

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

_MONEY_RE = re.compile(r'"@M@([^"@]*)@"')
_EPOCH = date(1970, 1, 1)
_IST = 19800  # +05:30 in seconds
_FAR_FUTURE = 75 * 365 * 86400  # about 75 years: "more than one day after recording"

# heap entry kinds
_EVENT, _RAW, _DUP, _REFORMAT = range(4)


# --------------------------------------------------------------------------- summary


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


# --------------------------------------------------------------------------- helpers


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))


def _num(text: str) -> str:
    """A JSON number written exactly as ``text`` (see ``_encode``)."""
    return f"@M@{text}@"


def _encode(obj: Any, *, spaced: bool = False) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
    return _MONEY_RE.sub(r"\1", text)


def _reformat(line: str) -> str:
    """The same JSON object, with its top-level keys reversed and spaced separators."""
    obj = json.loads(line, parse_float=_num)
    return _encode(dict(reversed(list(obj.items()))), spaced=True)


def _iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with a ``Z`` (microseconds only when there are some)."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _between(random_: Any, lo: int, hi: int) -> int:
    """A uniform integer in [lo, hi] (faster than Random.randint)."""
    return lo + int(random_() * (hi - lo + 1))


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    wsum = sum(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    rest = total - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[:rest]:
        counts[i] += 1
    return counts


class _Clock:
    """Fast ISO-8601 formatting of integer epoch seconds."""

    _HMS: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        if not _Clock._HMS:
            _Clock._HMS = [
                f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
            ]
        self._hms = _Clock._HMS

    def _day(self, d: int) -> str:
        s = self._days.get(d)
        if s is None:
            s = (_EPOCH + timedelta(days=d)).isoformat()
            if len(self._days) < 4096:
                self._days[d] = s
        return s

    def z(self, t: int) -> str:
        d, s = divmod(t, 86400)
        day = self._days.get(d) or self._day(d)
        return f"{day}T{self._hms[s]}Z"

    def ist(self, t: int) -> str:
        d, s = divmod(t + _IST, 86400)
        day = self._days.get(d) or self._day(d)
        return f"{day}T{self._hms[s]}+05:30"

    def text(self, t: int, variant: int) -> str:
        return self.ist(t) if variant == MOBILE else self.z(t)


# --------------------------------------------------------------------------- catalog


@attrs.define
class _Catalog:
    ids: list[str]  # valid products, index = product number
    cents: list[int]
    active: list[bool]
    reorder_point: list[int]
    weights: list[float]  # order popularity
    entries: int
    bad: dict[str, int]
    even_product: int  # a product whose price has an even number of cents
    unknown_id: str


def _write_catalog(path: Path, rng: random.Random, products: int) -> _Catalog:
    entries: list[Any] = []
    ids: list[str] = []
    cents: list[int] = []
    active: list[bool] = []
    reorder: list[int] = []
    weights: list[float] = []
    inactive_left = max(1, products // 15) if products >= 5 else 0
    for i in range(products):
        pid = f"PROD-{i + 1:03d}"
        category, lo, hi, nouns = _CATEGORIES[rng.randrange(len(_CATEGORIES))]
        brand = _BRANDS[rng.randrange(len(_BRANDS))]
        price = rng.randint(lo, hi) * 100 + rng.choice(_CENT_ENDINGS)
        is_active = True
        if inactive_left and (rng.random() < 0.06 or products - i <= inactive_left):
            is_active = False
            inactive_left -= 1
        entry: dict[str, Any] = {
            "product_id": pid,
            "name": f"{brand} {nouns[rng.randrange(len(nouns))]}",
            "category": category,
            "price": _num(_money(price)),
            "cost": _num(_money(price * rng.randint(35, 70) // 100)),
        }
        rp = 20
        if rng.random() >= 0.15:  # the rest omit it: default 20
            rp = rng.randint(10, 50)
            entry["reorder_point"] = rp
        if not is_active or rng.random() < 0.7:
            entry["active"] = is_active
        entry["brand"] = brand
        entry["tags"] = sorted(rng.sample(_TAGS, rng.randint(0, 3)))
        entries.append(entry)
        ids.append(pid)
        cents.append(price)
        active.append(is_active)
        reorder.append(rp)
        weight = rng.paretovariate(1.3)
        weights.append(weight if is_active else weight * 0.1)
    # a product with an even number of cents, for the "exactly 50% away" cases
    even = next((i for i in range(products) if cents[i] % 2 == 0 and active[i]), None)
    if even is None:
        even = next(i for i in range(products) if active[i]) if any(active) else 0
        cents[even] += 1 if cents[even] % 2 else 0
        entries[even]["price"] = _num(_money(cents[even]))

    # bad entries, at pseudo-random places
    extra = [f"PROD-{products + k:03d}" for k in (1, 2, 3, 4)]
    bad_entries: list[tuple[Any, str]] = [
        ({"product_id": extra[0], "category": "Home", "price": _num("19.99")},
         "catalog_missing_field"),
        ({"product_id": extra[1], "name": "Broken Price Tag", "category": "Toys", "price": "abc"},
         "catalog_invalid"),
        ({"product_id": extra[2], "name": "Negative Gadget", "category": "Electronics",
          "price": _num("-12.50")}, "catalog_invalid"),
        (f"{extra[3]} discontinued", "catalog_malformed_record"),
    ]  # fmt: skip
    bad = dict.fromkeys(_CATALOG_KEYS, 0)
    for entry, key in bad_entries:
        entries.insert(rng.randrange(len(entries) + 1), entry)
        bad[key] += 1
    # one product per line keeps the file readable and diffable
    body = ",\n".join("  " + _encode(entry, spaced=True) for entry in entries)
    path.write_text('{"products": [\n' + body + "\n]}\n", encoding="utf-8")

    unknown = "PROD-999" if products + 4 < 999 else f"PROD-{products + 1000}"
    return _Catalog(ids, cents, active, reorder, weights, len(entries), bad, even, unknown)


# --------------------------------------------------------------------------- generator


class _Generator:
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

    # ------------------------------------------------------------------ main

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

    # ------------------------------------------------------------------ anomalies

    def _inject_hour(self, h: int, hour_start: int) -> None:
        """Spikes of hour ``h``: more orders of the channel; drops: count what was kept."""
        rng = self.rng
        for ch, factor in self.spike_at.get(h, ()):
            normal = self.hour_counts[ch]
            extra = round((factor - 1) * normal)
            written = normal
            for _ in range(extra):
                written += self._order(hour_start + int(rng.random() * 3600), channel=ch)
            self.rate_counts[(h, ch)] = (normal, written)
        for ch in self.drop_now or ():
            self.rate_counts[(h, ch)] = (self.hour_counts[ch], self.hour_counts[ch] - self.dropped_now[ch])
        self.drop_now = None

    def _injected(self) -> list[dict[str, Any]]:
        out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for kind, table in (("spike", self.spikes), ("drop", self.drops)):
            for (h, ch), factor in table.items():
                t = self.base + h * 3600
                normal, written = self.rate_counts.get((h, ch), (0, 0))
                start = self.clock.z(t)
                record = {"kind": kind, "channel": CHANNELS[ch], "start": start,
                          "end": self.clock.z(t + 3600), "factor": factor,
                          "key": f"{CHANNELS[ch]}@{start[:13]}",
                          "normal_orders": normal, "orders": written}  # fmt: skip
                out.append(((t, kind, ch), record))
        for i, (source, s, e) in enumerate(self.silent):
            record = {"kind": "silent", "source": source, "start": _iso(s), "end": _iso(e),
                      "lost_lines": self.lost_lines[i]}  # fmt: skip
            if source == "orders":
                record["lost_orders"] = self.lost_orders[i]
            out.append(((s, "silent", i), record))
        return [record for _, record in sorted(out, key=lambda kr: kr[0])]

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

    # ------------------------------------------------------------------ cases

    def _assign_mandatory_cases(self) -> None:
        """Every case at least once, on pseudo-random orders."""
        rng = self.rng
        n = self.n_orders
        warnings = [name for name, _, _ in _WARNING_CASES]
        errors = [name for name, _, _, _ in _ERROR_CASES]
        self.warn_at: dict[int, str] = {}
        self.errors_at: dict[int, list[str]] = {}
        self.leftover_errors: list[str] = []
        total = len(warnings) + len(errors)
        if n >= total:
            slots = rng.sample(range(n), total)
            for name, slot in zip(warnings, slots[: len(warnings)], strict=True):
                self.warn_at[slot] = name
            for name, slot in zip(errors, slots[len(warnings) :], strict=True):
                self.errors_at[slot] = [name]
        else:
            slots = rng.sample(range(n), min(n, len(warnings)))
            for name, slot in zip(warnings, slots, strict=False):
                self.warn_at[slot] = name
            for name in errors:
                if n:
                    self.errors_at.setdefault(rng.randrange(n), []).append(name)
                else:
                    self.leftover_errors.append(name)

    def _count(self, code: str, case: str) -> None:
        self.bad[code] += 1
        key = f"{code}/{case}"
        self.cases[key] = self.cases.get(key, 0) + 1

    # ------------------------------------------------------------------ orders

    def _pick_variant(self) -> int:
        r = self.rng.random()
        for v, c in enumerate(_VARIANT_CUM):
            if r < c:
                return v
        return WEB

    def _order(self, placed: int, channel: int | None = None) -> int:
        """Make one order placed at ``placed``; ``channel``: an extra order of a spike.
        Returns 1 if the order was made, 0 if a drop or a silent window took it."""
        rng = self.rng
        if channel is not None:  # an extra order of a spike
            serial = self.extra_serial
            self.extra_serial += 1
            if self.silent_orders and self._window(self.silent_orders, placed, placed + 1) >= 0:
                self.lost_orders[self._silent_index("orders", placed, placed + 1)] += 1
                return 0
            warn, errors = None, []
            if channel == 0:  # web: canonical or legacy, as in the usual mix
                variant = LEGACY if rng.random() < 1 / 6 else WEB
            else:
                variant = MOBILE if channel == 1 else API
            return self._order_body(placed, serial, variant, warn, errors)

        serial = self.next_serial
        self.next_serial += 1
        if self.silent_orders and self._window(self.silent_orders, placed, placed + 1) >= 0:
            # the feed is down: the order is never seen; its mandatory error cases go to
            # the synthetic carriers at the end, its warning case is lost
            self.lost_orders[self._silent_index("orders", placed, placed + 1)] += 1
            self.warn_at.pop(serial, None)
            self.leftover_errors.extend(self.errors_at.pop(serial, []))
            return 0
        warn = self.warn_at.pop(serial, None)
        errors = self.errors_at.pop(serial, [])

        variant = self._pick_variant()
        if warn is not None:
            allowed = _WARNING_VARIANTS[warn]
            if variant not in allowed:
                variant = allowed[0] if len(allowed) == 1 else allowed[rng.randrange(len(allowed))]
        elif errors:
            fits = [v for v in _ALL if all(v in _ERROR_VARIANTS[e] for e in errors)]
            if fits and variant not in fits:
                variant = API if API in fits else fits[0]
        if self.drop_now is not None:
            ch = _CHANNEL_OF[variant]
            self.hour_counts[ch] += 1
            factor = self.drop_now.get(ch)
            # an order that carries a mandatory case is always kept
            if factor is not None and warn is None and not errors and self.rng_inj.random() >= factor:
                self.dropped_now[ch] += 1
                return 0
        elif self.spike_at:
            self.hour_counts[_CHANNEL_OF[variant]] += 1
        return self._order_body(placed, serial, variant, warn, errors)

    def _order_body(
        self, placed: int, serial: int, variant: int, warn: str | None, errors: list[str]
    ) -> int:
        rng = self.rng
        if warn is None and rng.random() < _P_WARNING_PER_ORDER:
            choices = _WARNINGS_FOR[variant]
            warn = choices[rng.randrange(len(choices))]
        if rng.random() < _P_ERROR_PER_ORDER:
            choices = _REPEATABLE_ERRORS[variant]
            extra = choices[rng.randrange(len(choices))]
            if extra not in errors:
                errors.append(extra)

        d, tags = self._make_order(serial, variant, warn, count_sales=True)
        tpl = _encode(d)
        # the last item: whether a line of the order was written yet (SampleSummary.orders)
        ref = [tpl, variant == MOBILE, tags, False]
        events = self._lifecycle(placed)
        random_ = rng.random
        arrivals = []
        for k, (ts, st) in enumerate(events):
            arr = ts + int(random_() * 20)
            nxt = events[k + 1][0] if k + 1 < len(events) else None
            if (
                not self.forced_out_of_order
                and st == _CONFIRMED
                and k + 1 < len(events)
                and events[k + 1][1] == _SHIPPED
            ):
                self.forced_out_of_order = True
                arr = events[k + 1][0] + _between(random_, 600, 10800)
                self.delayed += 1
            elif not self.forced_cross_day and (ts - self.base) // 86400 < self.days - 1:
                self.forced_cross_day = True
                midnight = self.base + ((ts - self.base) // 86400 + 1) * 86400
                arr = midnight + _between(random_, 3600, 21600)
                self.delayed += 1
            elif random_() < _P_LATE:
                if nxt is not None and rng.random() < 0.5:
                    arr = nxt + _between(random_, 60, 10800)
                else:
                    arr = ts + _between(random_, 7200, 172800)
                self.delayed += 1
            arrivals.append(arr)
            self.seq += 1
            self._push((arr, self.seq, _EVENT, ref, ts, st))

        for name in errors:
            if variant not in _ERROR_VARIANTS[name]:
                self.leftover_errors.append(name)
                continue
            k = rng.randrange(len(events))
            ts, st = events[k]
            self._push_error(
                name, d, variant, ts, st, arrivals[k] + _between(random_, 1, 600), serial
            )
        return 1

    def _lifecycle(self, placed: int) -> list[tuple[int, int]]:
        random_ = self.rng.random
        ev = [(placed, _PENDING)]
        r = random_()
        t = placed
        if r < 0.05:
            pass  # stays pending
        elif r < 0.09:
            ev.append((t + _between(random_, 300, 21600), _CANCELLED))
        else:
            t += _between(random_, 60, 1800)
            ev.append((t, _CONFIRMED))
            if r < 0.13:
                pass  # stays confirmed
            elif r < 0.17:
                ev.append((t + _between(random_, 3600, 43200), _CANCELLED))
            else:
                t += _between(random_, 7200, 108000)
                ev.append((t, _SHIPPED))
                t += _between(random_, 43200, 216000)
                ev.append((t, _DELIVERED))
                if random_() < 0.07:
                    ev.append((t + _between(random_, 21600, 259200), _REFUNDED))
        end = self.end
        return [e for e in ev if e[0] < end]

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

    # ------------------------------------------------------------------ error lines

    def _push_error(
        self,
        name: str,
        d: dict[str, Any],
        variant: int,
        ts: int,
        st: int,
        arrival: int,
        serial: int,
    ) -> None:
        data = self._corrupt(name, d, variant, ts, st, serial)
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.seq += 1
        self._push((arrival, self.seq, _RAW, data + b"\n", _ERROR_CODE[name], name))

    def _corrupt(
        self, name: str, d: dict[str, Any], variant: int, ts: int, st: int, serial: int
    ) -> str | bytes:
        c = copy.deepcopy(d)
        c["timestamp"] = self.clock.text(ts, variant)
        c["status"] = _STATUSES_UP[st] if variant == MOBILE else _STATUSES[st]
        cust_key = "customerId" if variant == MOBILE else "customer_id"
        item = c["items"][0]

        def set_price(text: str, numeric: bool) -> None:
            if variant == API:
                item["price"]["amount"] = text
            elif variant == MOBILE:
                item["unit_price"] = text
            else:
                key = "unit_price" if variant == WEB else "price"
                item[key] = _num(text) if numeric else text

        if name == "invalid_json_truncated":
            line = _encode(c)
            return line[: len(line) // 2]
        if name == "invalid_json_single_quotes":
            return _encode(c).replace('"', "'")
        if name == "invalid_json_trailing_comma":
            return _encode(c)[:-1] + ",}"
        if name == "json_array":
            return "[" + _encode(c) + "]"
        if name == "json_number":
            return str(100001 + serial)
        if name == "invalid_utf8":
            raw = _encode(c).encode("utf-8")
            i = raw.find(b"CUST-")
            return raw[:i] + b"\xc3\x28" + raw[i:]
        if name == "empty_line":
            return ""
        if name == "whitespace_space":
            return " "
        if name == "whitespace_tab":
            return "\t"
        if name == "whitespace_mixed":
            return "  \t  "
        if name in ("schema_version_7", "schema_version_three"):
            c.pop("schema_version", None)
            c = {"schema_version": 7 if name.endswith("7") else "three", **c}
        elif name == "order_id_absent":
            del c["order_id"]
        elif name == "order_id_empty":
            c["order_id"] = ""
        elif name == "customer_id_absent":
            del c[cust_key]
        elif name == "customer_id_empty":
            c[cust_key] = ""
        elif name == "timestamp_absent":
            del c["timestamp"]
        elif name == "items_absent":
            del c["items"]
        elif name == "status_absent":
            del c["status"]
        elif name == "timestamp_no_offset":
            text = c["timestamp"]
            c["timestamp"] = text[:-6] if variant == MOBILE else text[:-1]
        elif name == "timestamp_garbage":
            c["timestamp"] = "yesterday"
        elif name == "timestamp_far_future":
            c["timestamp"] = self.clock.text(ts + _FAR_FUTURE, variant)
        elif name == "timestamp_space_separator":
            c["timestamp"] = c["timestamp"].replace("T", " ")
        elif name == "items_empty":
            c["items"] = []
        elif name == "quantity_zero":
            item["quantity"] = 0
        elif name == "quantity_negative":
            item["quantity"] = -1
        elif name == "quantity_fraction":
            item["quantity"] = 1.5
        elif name == "quantity_string":
            item["quantity"] = "2"
        elif name == "price_negative":
            set_price("-5.00", True)
        elif name == "price_not_number":
            set_price("abc", False)
        elif name == "price_three_decimals":
            set_price(_money(self.cat.cents[0]) + "9", True)
        elif name == "status_lost":
            c["status"] = "LOST" if variant == MOBILE else "lost"
        elif name == "product_unknown":
            item["product_id"] = self.cat.unknown_id
        elif name in ("total_off_by_five", "total_off_by_two_cents"):
            # against the items themselves, whatever total the order carried
            total = sum(it["quantity"] * _cents(it["price"]["amount"]) for it in c["items"])
            c["order_total"] = _money(total + (500 if name == "total_off_by_five" else -2))
        elif name in ("currency_eur", "currency_gbp"):
            item["price"]["currency"] = "EUR" if name == "currency_eur" else "GBP"
        else:  # pragma: no cover - table and code out of step
            raise AssertionError(name)
        return _encode(c)

    def _fallback_cases(self) -> None:
        """Error cases that found no fitting order (tiny runs): synthetic carriers."""
        rng = self.rng
        for name in self.leftover_errors:
            variants = _ERROR_VARIANTS[name]
            variant = API if API in variants and len(variants) < len(_ALL) else WEB
            serial = self.next_serial
            self.next_serial += 1
            d, _ = self._make_order(serial, variant, None, count_sales=False)
            ts = self.end - 1 - rng.randrange(3600)
            self._push_error(name, d, variant, ts, _PENDING, ts + rng.randint(1, 600), serial)
        self.leftover_errors = []

    # ------------------------------------------------------------------ writing

    def _push(self, entry: tuple[Any, ...]) -> None:
        hour = (entry[0] - self.base) // 3600
        if hour == self.current_hour:
            heapq.heappush(self.current, entry)
        else:
            bucket = self.buckets.get(hour)
            if bucket is None:
                self.buckets[hour] = [entry]
            else:
                bucket.append(entry)

    def _flush(self, hour: int | None, out: list[bytes]) -> None:
        """Write every line due up to the end of ``hour`` (``None``: everything)."""
        while self.buckets:
            h = min(self.buckets)
            if hour is not None and h > hour:
                break
            self.current_hour = h
            self.current = self.buckets.pop(h)
            heapq.heapify(self.current)
            self._write_current(out)
        self.current_hour = -1

    def _write_current(self, out: list[bytes]) -> None:
        heap = self.current
        rng = self.rng
        random_ = rng.random
        clock = self.clock
        pop = heapq.heappop
        push = self._push
        statuses, statuses_up = _STATUSES, _STATUSES_UP
        lost = self.silent_orders
        while heap:
            arr, _, kind, a, b, c = pop(heap)
            if lost and self._window(lost, arr, arr + 1) >= 0:
                # a silent window: the line is never written (nor re-delivered later)
                self.lost_lines[self._silent_index("orders", arr, arr + 1)] += 1
                if kind == _EVENT and arr - b >= 20:
                    # on time, an event arrives 0-19 s after its timestamp: this one was
                    # counted as delayed when it was scheduled
                    self.delayed -= 1
                continue
            if kind == _EVENT:
                tpl, mobile, tags, seen = a
                if not seen:
                    a[3] = True
                    self.orders_written += 1
                if mobile:
                    line = tpl.replace("@TS@", clock.ist(b), 1).replace("@ST@", statuses_up[c], 1)
                else:
                    line = tpl.replace("@TS@", clock.z(b), 1).replace("@ST@", statuses[c], 1)
                data = line.encode("utf-8") + b"\n"
                out.append(data)
                self.order_events += 1
                for code, case in tags:
                    self._count(code, case)
                if self.dup_scheduled == 0 or random_() < _P_DUP:
                    self.dup_scheduled += 1
                    self.seq += 1
                    push((arr + 30 + int(random_() * 43170), self.seq, _DUP, data, None, None))
                if self.reformat_scheduled < 2 or random_() < _P_REFORMAT:
                    self.reformat_scheduled += 1
                    self.seq += 1
                    again = _reformat(line).encode("utf-8") + b"\n"
                    delay = 300 + int(random_() * 21300)
                    push((arr + delay, self.seq, _REFORMAT, again, tags, None))
            elif kind == _DUP:
                out.append(a)
                self.dup_lines += 1
            elif kind == _REFORMAT:
                out.append(a)
                self.reformatted += 1
                for code, case in b:
                    self._count(code, case)
            else:  # _RAW error line
                out.append(a)
                self.error_lines += 1
                self._count(b, c)
            self.order_lines += 1

    # ------------------------------------------------------------------ inventory

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


# --------------------------------------------------------------------------- API


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
