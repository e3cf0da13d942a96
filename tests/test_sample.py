"""Behaviour of the sample-data generator (fastcommerce.sample).

The checks read the written files back with small, test-local readers that follow the
data contract (docs/data-contract.md, sections 1-4 and 6): they recognise the order
variants, classify every record the way the contract says, and compare the result with
what the generator says it wrote. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import json
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _load_sample_module() -> Any:
    try:
        return importlib.import_module("fastcommerce.sample")
    except ImportError:
        # fastcommerce/__init__.py may import dependencies that are not installed where
        # this test runs; the generator itself needs only the stdlib and attrs.
        # fastcommerce/sample/ is a package (relative imports only): load it as one
        package = Path(__file__).resolve().parents[1] / "fastcommerce" / "sample"
        spec = importlib.util.spec_from_file_location(
            "_fastcommerce_sample_under_test",
            package / "__init__.py",
            submodule_search_locations=[str(package)],
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


sample = _load_sample_module()
write_sample = sample.write_sample

ORDER_ERROR_CODES = (
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
ORDER_WARNING_CODES = ("price_deviation", "incomplete_address")
ORDER_OK_KEYS = ("total_off_by_one_cent_ok", "price_exactly_50pct_ok", "price_trailing_zero_ok")
INVENTORY_CODES = (
    "inventory_malformed_record",
    "inventory_missing_field",
    "inventory_invalid_quantity",
    "inventory_invalid_timestamp",
    "inventory_unknown_product",
)
CATALOG_CODES = ("catalog_malformed_record", "catalog_missing_field", "catalog_invalid")
STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "refunded")
REQUIRED_CSV_COLUMNS = {"product_id", "available_quantity", "warehouse_location", "last_updated"}
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- readers


def order_records(path: Path) -> list[bytes]:
    """Each line is a record; the newline that ends the file does not start one."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def parse_object(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def variant_of(obj: dict[str, Any]) -> str:
    """Recognition rules of the contract, section 1."""
    if "schema_version" in obj:
        sv = obj["schema_version"]
        if type(sv) is int and sv == 3:
            return "api"
        if type(sv) is int and sv == 2:
            return "mobile" if is_mobile_shaped(obj) else "canonical"
        return "unknown"
    if "channel" in obj:
        return "mobile" if is_mobile_shaped(obj) else "canonical"
    return "legacy"


def is_mobile_shaped(obj: dict[str, Any]) -> bool:
    return obj.get("channel") == "mobile" and "customerId" in obj


_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _TS_RE.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_decimal(value: Any, *, as_string: bool) -> Decimal | None:
    if as_string:
        if not isinstance(value, str):
            return None
        try:
            d = Decimal(value)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    return Decimal(value)


def classify_order(raw: bytes, catalog: dict[str, Decimal], now: datetime) -> set[str]:
    """The codes (and boundary "ok" keys) a record carries, per the contract."""
    obj = parse_object(raw) if raw.strip() else None
    if obj is None:
        return {"malformed_record"}
    variant = variant_of(obj)
    if variant == "unknown":
        return {"unknown_schema"}
    errors: set[str] = set()
    notes: set[str] = set()
    cust_key = "customerId" if variant == "mobile" else "customer_id"
    for key in ("order_id", cust_key, "timestamp", "status"):
        if obj.get(key) in (None, ""):
            errors.add("missing_field")
    if "timestamp" in obj and obj["timestamp"] not in (None, ""):
        ts = parse_ts(obj["timestamp"])
        if ts is None or ts > now + timedelta(days=1):
            errors.add("invalid_timestamp")
    status = obj.get("status")
    if status not in (None, "") and (not isinstance(status, str) or status.lower() not in STATUSES):
        errors.add("invalid_status")
    items = obj.get("items")
    prices: list[tuple[str, Decimal, int]] = []  # items of known products
    total = Decimal(0)
    if items is None:
        errors.add("missing_field")
    elif not isinstance(items, list) or not items:
        errors.add("invalid_item")
    else:
        items_ok = True
        for item in items:
            qty = item.get("quantity")
            if type(qty) is not int or qty <= 0:
                items_ok = False
            if variant == "api":
                price = item.get("price") or {}
                value = to_decimal(price.get("amount"), as_string=True)
                if price.get("currency") != "USD":
                    errors.add("unsupported_currency")
            elif variant == "mobile":
                value = to_decimal(item.get("unit_price"), as_string=True)
            else:
                key = "price" if variant == "legacy" else "unit_price"
                value = to_decimal(item.get(key), as_string=False)
                if (
                    value is not None
                    and value.as_tuple().exponent == -3
                    and value == value.quantize(CENT)
                ):
                    notes.add("price_trailing_zero_ok")
            if value is None or value < 0 or value != value.quantize(CENT):
                items_ok = False
            elif type(qty) is int:
                total += value * qty
            if item.get("product_id") not in catalog:
                errors.add("unknown_product")
            elif value is not None and type(qty) is int:
                prices.append((item["product_id"], value, qty))
        if not items_ok:
            errors.add("invalid_item")
        elif variant == "api" and "order_total" in obj:
            diff = abs(Decimal(obj["order_total"]) - total)
            if diff > CENT:
                errors.add("total_mismatch")
            elif diff == CENT:
                notes.add("total_off_by_one_cent_ok")
    if errors:
        return errors  # quarantined: warnings are not counted
    for pid, value, _ in prices:
        away = abs(value - catalog[pid]) / catalog[pid]
        if away > Decimal("0.5"):
            notes.add("price_deviation")
        elif away == Decimal("0.5"):
            notes.add("price_exactly_50pct_ok")
    if variant == "legacy":
        address = {k: obj[k] for k in ("country", "state", "city") if k in obj}
    else:
        address = obj.get("shipping_address") or {}
    if not address.get("city") or (
        str(address.get("country", "")).upper() == "US" and not address.get("state")
    ):
        notes.add("incomplete_address")
    return notes


def load_catalog(path: Path) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    doc = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    assert isinstance(doc, dict) and isinstance(doc["products"], list)
    valid: dict[str, dict[str, Any]] = {}
    bad: Counter[str] = Counter()
    for entry in doc["products"]:
        if not isinstance(entry, dict):
            bad["catalog_malformed_record"] += 1
        elif any(entry.get(k) in (None, "") for k in ("product_id", "name", "category", "price")):
            bad["catalog_missing_field"] += 1
        elif to_decimal(entry["price"], as_string=False) is None or entry["price"] < 0:
            bad["catalog_invalid"] += 1
        else:
            valid[entry["product_id"]] = entry
    return valid, bad


def classify_inventory_row(row: list[str], header: list[str], catalog: set[str]) -> set[str]:
    if len(row) != len(header):
        return {"inventory_malformed_record"}
    rec = dict(zip(header, row, strict=True))
    codes = set()
    if any(rec[c] == "" for c in REQUIRED_CSV_COLUMNS):
        codes.add("inventory_missing_field")
    if rec["available_quantity"] and not re.fullmatch(r"[0-9]+", rec["available_quantity"]):
        codes.add("inventory_invalid_quantity")
    if rec["last_updated"] and parse_ts(rec["last_updated"]) is None:
        codes.add("inventory_invalid_timestamp")
    if rec["product_id"] and rec["product_id"] not in catalog:
        codes.add("inventory_unknown_product")
    return codes


def read_inventory(path: Path) -> tuple[list[str], list[list[str]]]:
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_sample(tmp_path_factory.mktemp("small"), orders=200, days=2, seed=7)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_sample(tmp_path_factory.mktemp("medium"), orders=3000, days=4, seed=11)


def file_bytes(summary: Any) -> list[bytes]:
    return [
        p.read_bytes() for p in (summary.catalog_path, summary.inventory_path, summary.orders_path)
    ]


# --------------------------------------------------------------------------- tests


def test_writes_three_files_and_creates_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    summary = write_sample(str(out), orders=30, days=1, seed=1)
    assert sorted(p.name for p in out.iterdir()) == [
        "inventory_updates.csv",
        "orders_stream.jsonl",
        "product_catalog.json",
    ]
    assert summary.out_dir == out
    assert {summary.catalog_path, summary.inventory_path, summary.orders_path} == set(out.iterdir())


def test_summary_is_frozen(small: Any) -> None:
    import attrs

    assert attrs.has(type(small))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        small.orders = 1
    json.dumps(small.as_dict())  # JSON-ready


def test_same_seed_gives_identical_bytes(small: Any, tmp_path: Path) -> None:
    again = write_sample(tmp_path, orders=200, days=2, seed=7)
    assert file_bytes(again) == file_bytes(small)
    assert again.bad_records == small.bad_records
    assert again.as_dict() | {
        "out_dir": "",
        "catalog_path": "",
        "inventory_path": "",
        "orders_path": "",
    } == (
        small.as_dict()
        | {"out_dir": "", "catalog_path": "", "inventory_path": "", "orders_path": ""}
    )


def test_different_seed_gives_different_bytes(small: Any, tmp_path: Path) -> None:
    other = write_sample(tmp_path, orders=200, days=2, seed=8)
    for a, b in zip(file_bytes(other), file_bytes(small), strict=True):
        assert a != b


def test_counts_match_the_files(small: Any, medium: Any) -> None:
    for summary in (small, medium):
        records = order_records(summary.orders_path)
        assert len(records) == summary.order_lines
        assert summary.order_lines == (
            summary.order_events
            + summary.duplicate_lines
            + summary.reformatted_lines
            + summary.error_lines
        )
        counts = Counter(records)
        assert sum(n - 1 for n in counts.values()) == summary.duplicate_lines
        _, rows = read_inventory(summary.inventory_path)
        assert len(rows) == summary.inventory_rows
        assert (
            sum(n - 1 for n in Counter(map(tuple, rows)).values())
            == summary.inventory_duplicate_rows
        )
        doc = json.loads(summary.catalog_path.read_text(encoding="utf-8"))
        assert len(doc["products"]) == summary.catalog_products
        order_ids = {
            obj.get("order_id")
            for obj in map(parse_object, records)
            if obj is not None and obj.get("order_id")
        }
        assert len(order_ids) >= summary.orders


def test_every_contract_code_is_injected(small: Any) -> None:
    for code in (
        ORDER_ERROR_CODES + ORDER_WARNING_CODES + ORDER_OK_KEYS + INVENTORY_CODES + CATALOG_CODES
    ):
        assert small.bad_records.get(code, 0) >= 1, code
    assert "inventory_invalid_quantity" in small.bad_records


def test_bad_records_agree_with_a_reading_of_the_contract(small: Any, medium: Any) -> None:
    """Classify every distinct record independently and compare with the summary."""
    now = datetime.now(UTC)
    for summary in (small, medium):
        valid, catalog_bad = load_catalog(summary.catalog_path)
        prices = {pid: Decimal(e["price"]) for pid, e in valid.items()}
        found: Counter[str] = Counter(catalog_bad)
        seen: set[bytes] = set()
        for raw in order_records(summary.orders_path):
            if raw in seen:
                continue  # an exact duplicate is counted, not classified
            seen.add(raw)
            found.update(classify_order(raw, prices, now))
        header, rows = read_inventory(summary.inventory_path)
        seen_rows: set[tuple[str, ...]] = set()
        for row in rows:
            if tuple(row) not in seen_rows:
                seen_rows.add(tuple(row))
                found.update(classify_inventory_row(row, header, set(valid)))
        expected = {k: v for k, v in summary.bad_records.items() if v}
        assert dict(found) == expected


def test_error_lines_are_a_small_fraction(medium: Any) -> None:
    errors = sum(medium.bad_records[c] for c in ORDER_ERROR_CODES)
    assert errors == medium.error_lines
    assert 0 < errors / medium.order_lines < 0.03


def test_malformed_lines_of_every_kind(small: Any) -> None:
    records = order_records(small.orders_path)
    assert b"" in records
    assert any(r and not r.strip() for r in records)  # whitespace only
    undecodable = 0
    kinds: Counter[str] = Counter()
    for raw in records:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            kinds["invalid_json"] += 1
            continue
        kinds[type(obj).__name__] += 1
    assert undecodable >= 1
    assert kinds["invalid_json"] >= 1 and kinds["list"] >= 1 and kinds["int"] >= 1


def test_all_four_variants_are_present_with_their_shapes(small: Any) -> None:
    by_variant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for raw in order_records(small.orders_path):
        obj = parse_object(raw)
        if obj is not None:
            by_variant[variant_of(obj)].append(obj)
    assert {"canonical", "mobile", "api", "legacy"} <= set(by_variant)
    total = sum(len(v) for k, v in by_variant.items() if k != "unknown")
    # rough channel mix: web about half, mobile and api about a fifth, legacy a tenth
    assert 0.35 < len(by_variant["canonical"]) / total < 0.65
    assert 0.05 < len(by_variant["legacy"]) / total < 0.2
    assert all(o.get("channel") == "web" for o in by_variant["canonical"])
    for obj in by_variant["mobile"]:
        if isinstance(obj.get("timestamp"), str) and parse_ts(obj["timestamp"]):
            assert obj["timestamp"].endswith("+05:30")
        if obj.get("status") and obj["status"] != "lost":
            assert obj["status"] == obj["status"].upper()
        assert "customer_id" not in obj
        assert all(isinstance(i["unit_price"], str) for i in obj.get("items") or [])
    for obj in by_variant["api"]:
        assert obj.get("channel", "api") == "api"
        assert "metadata" in obj and "coupon_code" in obj and isinstance(obj["order_total"], str)
        for item in obj.get("items") or []:
            assert set(item["price"]) == {"amount", "currency"} and "unit_price" not in item
    assert any(o["shipping_address"]["country"].islower() for o in by_variant["api"])
    for obj in by_variant["legacy"]:
        assert "shipping_address" not in obj and "country" in obj
        assert all("price" in i and "unit_price" not in i for i in obj.get("items") or [])
    # canonical and legacy money are JSON numbers written with exactly two decimals
    money = re.compile(rb'"(?:unit_price|price)":(-?[0-9][0-9.eE+-]*)')
    for raw in order_records(small.orders_path):
        obj = parse_object(raw)
        if obj is None or variant_of(obj) not in ("canonical", "legacy"):
            continue
        if classify_order(raw, {}, datetime.now(UTC)) - {"unknown_product", "incomplete_address"}:
            continue  # a bad record on purpose
        for text in money.findall(raw):
            assert re.fullmatch(rb"[0-9]+\.[0-9]{2}0?", text), raw


def test_valid_timestamps_are_instants_inside_the_window(small: Any) -> None:
    # the re-formatted copy of a mobile event, or the event itself: its +05:30 time
    # falls inside the sample window like every UTC timestamp does
    start = datetime(2024, 1, 15, tzinfo=UTC)
    end = start + timedelta(days=2)
    for raw in order_records(small.orders_path):
        obj = parse_object(raw)
        if obj is None or classify_order(raw, {}, datetime.now(UTC)) & {
            "invalid_timestamp",
            "missing_field",
        }:
            continue
        if "timestamp" in obj and isinstance(obj["timestamp"], str):
            ts = parse_ts(obj["timestamp"])
            if ts is not None:
                assert start <= ts < end, obj["timestamp"]


def test_unit_prices_mostly_equal_the_catalog(small: Any) -> None:
    valid, _ = load_catalog(small.catalog_path)
    same = other = 0
    for raw in order_records(small.orders_path):
        obj = parse_object(raw)
        if obj is None or variant_of(obj) != "canonical":
            continue
        for item in obj.get("items") or []:
            if item.get("product_id") in valid:
                if item.get("unit_price") == Decimal(valid[item["product_id"]]["price"]):
                    same += 1
                else:
                    other += 1
    assert same > 3 * other > 0


def test_lifecycles_have_several_events(small: Any, medium: Any) -> None:
    now = datetime.now(UTC)
    for summary in (small, medium):
        valid, _ = load_catalog(summary.catalog_path)
        prices = {pid: Decimal(e["price"]) for pid, e in valid.items()}
        statuses: dict[str, set[str]] = defaultdict(set)
        for raw in set(order_records(summary.orders_path)):
            if classify_order(raw, prices, now) & set(ORDER_ERROR_CODES):
                continue
            obj = parse_object(raw)
            assert obj is not None
            statuses[obj["order_id"]].add(obj["status"].lower())
        assert len(statuses) == summary.orders
        assert sum(map(len, statuses.values())) / len(statuses) >= 2
        assert all("pending" in s for s in statuses.values())
        assert max(map(len, statuses.values())) >= 4
        seen = set().union(*statuses.values())
        assert {"pending", "confirmed", "shipped", "delivered", "cancelled"} <= seen
    assert "refunded" in seen  # the medium run is long enough for refunds


def test_exact_duplicates_and_reformatted_copies(small: Any) -> None:
    records = order_records(small.orders_path)
    counts = Counter(records)
    assert small.duplicate_lines >= 1
    assert any(n > 1 for n in counts.values())
    # same event, different bytes: parse and compare as data
    forms: dict[str, set[bytes]] = defaultdict(set)
    for raw in counts:
        obj = parse_object(raw)
        if obj is not None:
            forms[json.dumps(obj, sort_keys=True, default=str)].add(raw)
    assert sum(len(v) - 1 for v in forms.values()) == small.reformatted_lines >= 1


def test_events_arrive_late_and_out_of_order(small: Any) -> None:
    seen_status: dict[str, list[str]] = defaultdict(list)
    newest = None
    previous_day_after_next = False
    for raw in order_records(small.orders_path):
        obj = parse_object(raw)
        if obj is None or not isinstance(obj.get("status"), str):
            continue
        ts = parse_ts(obj.get("timestamp"))
        if ts is None or ts.year > 2030:
            continue
        seen_status[obj.get("order_id", "")].append(obj["status"].lower())
        if newest is not None and ts.astimezone(UTC).date() < newest.astimezone(UTC).date():
            previous_day_after_next = True
        newest = ts if newest is None or ts > newest else newest
    assert previous_day_after_next
    assert any(
        "shipped" in s and "confirmed" in s and s.index("shipped") < s.index("confirmed")
        for s in seen_status.values()
    )
    assert small.delayed_events >= 2


def test_daily_shape_and_repeat_customers(medium: Any) -> None:
    hours: Counter[int] = Counter()
    customers: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    for raw in order_records(medium.orders_path):
        obj = parse_object(raw)
        if obj is None or variant_of(obj) != "canonical" or obj.get("status") != "pending":
            continue
        ts = parse_ts(obj.get("timestamp"))
        if ts is None or not obj.get("customer_id"):
            continue
        hours[ts.hour] += 1
        customers[obj["customer_id"]] += 1
        address = obj["shipping_address"]
        countries[address["country"]] += 1
        if address["country"] != "US" and address.get("city"):
            assert "state" not in address
    afternoon = sum(hours[h] for h in range(12, 24))
    assert afternoon > 2 * sum(hours[h] for h in range(0, 12))
    assert customers.most_common(1)[0][1] >= 5  # Zipf-ish repeat customers
    assert countries["US"] > sum(countries.values()) / 2
    assert len(countries) >= 3


def test_catalog_shape(small: Any) -> None:
    doc = json.loads(small.catalog_path.read_text(encoding="utf-8"), parse_float=Decimal)
    assert set(doc) == {"products"}
    valid, bad = load_catalog(small.catalog_path)
    assert sum(bad.values()) + len(valid) == small.catalog_products
    products = list(valid.values())
    assert len({p["category"] for p in products}) >= 4
    assert any("reorder_point" not in p for p in products)
    assert any(p.get("active") is False for p in products)
    assert all("brand" in p and "tags" in p for p in products)
    text = small.catalog_path.read_text(encoding="utf-8")
    for price in re.findall(r'"(?:price|cost)": (-?[0-9][0-9.eE+-]*)', text):
        assert re.fullmatch(r"-?[0-9]+\.[0-9]{2}", price), price


def test_inventory_shape_batches_and_levels(medium: Any) -> None:
    header, rows = read_inventory(medium.inventory_path)
    assert set(header) >= REQUIRED_CSV_COLUMNS
    assert len(set(header)) == len(header)
    valid, _ = load_catalog(medium.catalog_path)
    good = [
        dict(zip(header, r, strict=True))
        for r in rows
        if not classify_inventory_row(r, header, set(valid))
    ]
    # late batches: a row older than a row written two hours before it
    newest = None
    late = False
    for rec in good:
        ts = parse_ts(rec["last_updated"])
        assert ts is not None
        if newest is not None and ts < newest - timedelta(hours=1, minutes=30):
            late = True
        newest = ts if newest is None or ts > newest else newest
    assert late and medium.inventory_late_batches >= 1
    # levels fall with sales and jump on restock
    series: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
    for rec in good:
        key = (rec["product_id"], rec["warehouse_location"])
        series[key].append((parse_ts(rec["last_updated"]), int(rec["available_quantity"])))
    falls = rises = 0
    for points in series.values():
        levels = [q for _, q in sorted(set(points))]
        falls += sum(b < a for a, b in pairwise(levels))
        rises += sum(b > a for a, b in pairwise(levels))
    assert falls > rises > 0
    # current level = latest last_updated; some products end at or below reorder point
    latest: dict[tuple[str, str], tuple[datetime, int]] = {}
    for key, points in series.items():
        latest[key] = max(points)
    available: Counter[str] = Counter()
    for (pid, _), (_, qty) in latest.items():
        available[pid] += qty
    low = [pid for pid, qty in available.items() if qty <= valid[pid].get("reorder_point", 20)]
    assert 0 < len(low) < len(available)


@pytest.mark.parametrize("orders", [0, 1, 5])
def test_tiny_runs_still_carry_every_error_case(tmp_path: Path, orders: int) -> None:
    summary = write_sample(tmp_path, orders=orders, days=1, seed=3)
    for code in ORDER_ERROR_CODES:
        assert summary.bad_records[code] >= 1, code
    assert len(order_records(summary.orders_path)) == summary.order_lines


def test_small_run_is_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    write_sample(tmp_path, orders=200, days=2, seed=5)
    assert time.perf_counter() - t0 < 2.0


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_sample(tmp_path, days=0)
    with pytest.raises(ValueError):
        write_sample(tmp_path, orders=-1)
    with pytest.raises(ValueError):
        write_sample(tmp_path, warehouses=())


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    orders=st.integers(min_value=0, max_value=80),
    days=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32),
    products=st.integers(min_value=1, max_value=12),
    warehouses=st.lists(
        st.sampled_from(["WH-A", "WH-B", "WH-C", "WH-D"]), min_size=1, max_size=3, unique=True
    ),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2025, 6, 30)),
)
def test_property_counts_and_classification(
    tmp_path_factory: pytest.TempPathFactory,
    orders: int,
    days: int,
    seed: int,
    products: int,
    warehouses: list[str],
    start: date,
) -> None:
    out = tmp_path_factory.mktemp("prop")
    summary = write_sample(
        out,
        orders=orders,
        days=days,
        seed=seed,
        products=products,
        warehouses=tuple(warehouses),
        start=start,
    )
    records = order_records(summary.orders_path)
    assert len(records) == summary.order_lines
    header, rows = read_inventory(summary.inventory_path)
    assert len(rows) == summary.inventory_rows
    valid, _ = load_catalog(summary.catalog_path)
    prices = {pid: Decimal(e["price"]) for pid, e in valid.items()}
    now = datetime.now(UTC)
    found: Counter[str] = Counter()
    for raw in dict.fromkeys(records):
        found.update(classify_order(raw, prices, now))
    for code in ORDER_ERROR_CODES + ORDER_WARNING_CODES + ORDER_OK_KEYS:
        assert found[code] == summary.bad_records[code], code
    for code in ORDER_ERROR_CODES:
        assert summary.bad_records[code] >= 1
    # every timestamp of a valid event lies inside the window
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = lo + timedelta(days=days)
    for raw in records:
        obj = parse_object(raw)
        if obj is not None and not classify_order(raw, prices, now) & set(ORDER_ERROR_CODES):
            assert lo <= parse_ts(obj["timestamp"]) < hi
    assert all(
        r[header.index("warehouse_location")] in [*warehouses, ""]
        for r in rows
        if len(r) == len(header)
    )
