"""One test per contract code that the read path reports (data contract sections 4 and 6)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import orjson
import pytest

WEB = {
    "order_id": "ORD-1", "customer_id": "CUST-1", "timestamp": "2024-01-15T10:30:00Z",
    "channel": "web", "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}],
    "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"},
    "status": "confirmed",
}
API = {
    "schema_version": 3, "order_id": "ORD-2", "customer_id": "CUST-2",
    "timestamp": "2024-01-15T11:00:00Z", "channel": "api",
    "items": [{"product_id": "PROD-001", "quantity": 2, "price": {"amount": "29.99", "currency": "USD"}}],
    "shipping_address": {"country": "us", "state": "NY", "city": "New York"},
    "status": "confirmed", "order_total": "59.98", "metadata": {"k": 1}, "coupon_code": "X",
}


def variant(base, **changes):
    rec = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


CATALOG = b"""{"products": [
  {"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99},
  {"product_id": "PROD-002", "name": "Lamp", "category": "home", "price": 10.00, "active": false}
]}"""


@pytest.fixture
def pipeline(pipeline, tmp_path):
    """The conftest pipeline with a catalog loaded first, as the contract says it is."""
    path = tmp_path / "catalog.json"
    path.write_bytes(CATALOG)
    pipeline.ingest("catalog", path)
    return pipeline


def codes_of(pipeline, *records):
    lines = [r if isinstance(r, (bytes, str)) else json.dumps(r) for r in records]
    pipeline.ingest_records("orders", lines)
    return [sorted({p.code for p in e.problems}) for e in pipeline.events(stream="orders")]


def test_valid_web_record_has_no_problems(pipeline):
    assert codes_of(pipeline, WEB) == [[]]
    event = next(pipeline.events(stream="orders"))
    assert event.payload.items[0].unit_price == Decimal("29.99")
    assert event.payload.timestamp.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("line", [b"", b"   ", b"{not json", b"[1, 2]", b"42", b"\xff\xfe{}", b'"text"'])
def test_malformed_record(pipeline, line):
    assert codes_of(pipeline, line) == [["malformed_record"]]


@pytest.mark.parametrize("record", [
    {"schema_version": 7, "order_id": "X"},
    {"schema_version": "three", "channel": "web"},
    {"schema_version": 1, "channel": "web"},
])
def test_unknown_schema(pipeline, record):
    assert codes_of(pipeline, record) == [["unknown_schema"]]


@pytest.mark.parametrize("field", ["order_id", "customer_id", "timestamp", "items", "status"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_missing_field(pipeline, field, how):
    value = ... if how == "absent" else ("" if field != "items" else None)
    assert codes_of(pipeline, variant(WEB, **{field: value})) == [["missing_field"]]


@pytest.mark.parametrize("ts", ["2024-01-15T10:30:00", "yesterday", "2024-01-15 10:30:00Z", "2031-01-01T00:00:00Z", 17,
                                # offsets the contract does not name ("Z or an +HH:MM offset")
                                "2024-01-15T10:30:00+05", "2024-01-15T10:30:00+0530",
                                "2024-01-15T10:30:00 +05:30", "2024-01-15T10:30:00+05:30:00"])
def test_invalid_timestamp(pipeline, ts):
    assert codes_of(pipeline, variant(WEB, timestamp=ts)) == [["invalid_timestamp"]]


@pytest.mark.parametrize("ts", ["2024-01-15T16:00:00+05:30", "2024-01-15T05:30:00.25-05:00", "2024-01-15T10:30:00Z"])
def test_the_contracts_offsets_are_valid(pipeline, ts):
    assert codes_of(pipeline, variant(WEB, timestamp=ts)) == [[]]


def test_timestamp_within_one_day_of_recording_is_valid(pipeline):
    # the fixture's clock records at 2024-01-20T12:00Z; 23 hours later is still valid
    assert codes_of(pipeline, variant(WEB, timestamp="2024-01-21T11:00:00Z")) == [[]]


@pytest.mark.parametrize("items", [
    [],
    [{"product_id": "PROD-001", "quantity": 0, "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": -1, "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": 1.5, "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": "2", "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": True, "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": 1, "unit_price": -5}],
    [{"product_id": "PROD-001", "quantity": 1, "unit_price": "abc"}],
    [{"product_id": "PROD-001", "quantity": 1, "unit_price": 29.999}],
    [{"product_id": "PROD-001", "quantity": 1}],
    ["PROD-001"],
    "PROD-001",
])
def test_invalid_item(pipeline, items):
    assert codes_of(pipeline, variant(WEB, items=items)) == [["invalid_item"]]


def test_more_than_two_decimals_is_judged_on_the_value(pipeline):
    line = orjson.dumps(WEB).replace(b"29.99", b"29.990")
    assert codes_of(pipeline, line) == [[]]


@pytest.mark.parametrize("status", ["lost", "CONFIRMED ", 3])
def test_invalid_status(pipeline, status):
    expected = [[]] if status == "CONFIRMED " else [["invalid_status"]]
    assert codes_of(pipeline, variant(WEB, status=status)) == expected


def test_status_is_case_insensitive(pipeline):
    assert codes_of(pipeline, variant(WEB, status="Shipped")) == [[]]


@pytest.mark.parametrize("total, expected", [
    ("59.98", []), ("59.99", []), ("59.97", []), ("60.00", ["total_mismatch"]),
    ("64.98", ["total_mismatch"]), ("abc", ["total_mismatch"]),
])
def test_total_mismatch_is_strict_at_one_cent(pipeline, total, expected):
    assert codes_of(pipeline, variant(API, order_total=total)) == [expected]


def test_total_mismatch_is_checked_only_when_items_are_valid(pipeline):
    bad_items = [{"product_id": "PROD-001", "quantity": 0, "price": {"amount": "29.99", "currency": "USD"}}]
    assert codes_of(pipeline, variant(API, items=bad_items, order_total="1.00")) == [["invalid_item"]]


def test_unsupported_currency(pipeline):
    items = [{"product_id": "PROD-001", "quantity": 2, "price": {"amount": "29.99", "currency": "EUR"}}]
    assert codes_of(pipeline, variant(API, items=items)) == [["unsupported_currency"]]


@pytest.mark.parametrize("address, warned", [
    ({"country": "US", "state": "CA"}, True),
    ({"country": "US", "city": "Austin"}, True),
    ({"country": "GB", "city": "London"}, False),
    ({"country": "us", "state": "TX", "city": "Austin"}, False),
    ({"city": "Paris"}, False),  # the contract asks for a city (and a US state), not a country
])
def test_incomplete_address_is_a_warning(pipeline, address, warned):
    pipeline.ingest_records("orders", [variant(WEB, shipping_address=address)])
    event = next(pipeline.events(stream="orders"))
    assert not event.quarantined
    assert event.payload is not None
    assert [p.code for p in event.warnings] == (["incomplete_address"] if warned else [])


def test_several_errors_are_all_recorded(pipeline):
    rec = variant(WEB, status="lost", customer_id=..., timestamp="nope")
    assert codes_of(pipeline, rec) == [["invalid_status", "invalid_timestamp", "missing_field"]]


def _inventory(pipeline, tmp_path, rows, header="product_id,available_quantity,warehouse_location,last_updated"):
    path = tmp_path / "inv.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    pipeline.ingest("inventory", path)
    return [sorted({p.code for p in e.problems}) for e in pipeline.events(stream="inventory")]


@pytest.mark.parametrize("qty", ["-3", "12.5", "abc", "1e3", "+5", " 5", "5 ", "\t7", "8\u00a0", "\u0663", "1_000"])
def test_invalid_quantity(pipeline, tmp_path, qty):
    assert _inventory(pipeline, tmp_path, [f"PROD-001,{qty},WH-SF,2024-01-15T09:00:00Z"]) == [["invalid_quantity"]]


def test_inventory_columns_in_any_order_with_extra_columns(pipeline, tmp_path):
    rows = ["WH-SF,2024-01-15T09:00:00Z,7,PROD-001,150"]
    header = "warehouse_location,last_updated,reserved_quantity,product_id,available_quantity"
    assert _inventory(pipeline, tmp_path, rows, header) == [[]]
    event = next(pipeline.events(stream="inventory"))
    assert (event.payload.product_id, event.payload.available_quantity) == ("PROD-001", 150)


def test_inventory_missing_field_and_timestamp_without_offset(pipeline, tmp_path):
    rows = [",5,WH-SF,2024-01-15T09:00:00Z", "PROD-001,5,WH-SF,2024-01-15T09:00:00"]
    assert _inventory(pipeline, tmp_path, rows) == [["missing_field"], ["invalid_timestamp"]]


def test_inventory_row_with_wrong_number_of_fields_is_malformed(pipeline, tmp_path):
    assert _inventory(pipeline, tmp_path, ["PROD-001,5,WH-SF"]) == [["malformed_record"]]


def _one_product(pipeline, tmp_path, text: str):
    """The problems of the one product of a catalog file with ``text``."""
    path = tmp_path / "catalog2.json"
    path.write_text(text)
    pipeline.ingest("catalog", path)
    (event,) = [e for e in pipeline.events(stream="catalog") if e.record.source == str(path)]
    return event.problems


def test_catalog_missing_field(pipeline, tmp_path):
    problems = _one_product(pipeline, tmp_path, '{"products": [{"product_id": "PROD-009", "category": "x", "price": 1.50}]}')
    assert [p.code for p in problems] == ["missing_field"]
    assert "name" in problems[0].reason


def test_unknown_product(pipeline):
    items = [{"product_id": "PROD-999", "quantity": 1, "unit_price": 5}]
    assert codes_of(pipeline, variant(WEB, items=items)) == [["unknown_product"]]


def test_inactive_products_are_in_the_catalog(pipeline):
    items = [{"product_id": "PROD-002", "quantity": 1, "unit_price": 10}]
    assert codes_of(pipeline, variant(WEB, items=items)) == [[]]


def test_unknown_product_is_judged_against_the_catalog_at_the_events_place_in_the_log(pipeline, tmp_path):
    items = [{"product_id": "PROD-003", "quantity": 1, "unit_price": 5}]
    pipeline.ingest_records("orders", [variant(WEB, items=items)])
    later = tmp_path / "later.json"
    later.write_text('[{"product_id": "PROD-003", "name": "Pen", "category": "office", "price": 5.00}]')
    pipeline.ingest("catalog", later)
    pipeline.ingest_records("orders", [variant(WEB, items=items, order_id="ORD-LATER")])
    codes = [sorted({p.code for p in e.problems}) for e in pipeline.events(stream="orders")]
    assert codes == [["unknown_product"], []]


def test_inventory_unknown_product(pipeline, tmp_path):
    assert _inventory(pipeline, tmp_path, ["PROD-999,5,WH-SF,2024-01-15T09:00:00Z"]) == [["unknown_product"]]


@pytest.mark.parametrize("price, warned", [
    ("44.98", False), ("44.99", True), ("14.995", None), ("15.00", False), ("14.99", True), ("59.98", True),
])
def test_price_deviation_is_strict_at_fifty_percent(pipeline, price, warned):
    # catalog price 29.99: 50% away is 14.995 / 44.985
    line = orjson.dumps(WEB).replace(b"29.99", price.encode())
    pipeline.ingest_records("orders", [line])
    (event,) = pipeline.events(stream="orders")
    if warned is None:
        assert [p.code for p in event.problems] == ["invalid_item"]  # 3 decimals
        return
    assert not event.quarantined
    assert [p.code for p in event.warnings] == (["price_deviation"] if warned else [])


def test_warnings_on_a_quarantined_record_are_kept_but_it_is_quarantined(pipeline):
    rec = variant(WEB, status="lost", shipping_address={"country": "US"})
    pipeline.ingest_records("orders", [rec])
    (event,) = pipeline.events(stream="orders")
    assert event.quarantined and event.payload is None
    assert {p.code for p in event.problems} == {"invalid_status", "incomplete_address"}


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:30"])
def test_timestamp_outside_the_utc_range_is_invalid_not_a_crash(pipeline, ts):
    assert codes_of(pipeline, variant(WEB, timestamp=ts)) == [["invalid_timestamp"]]


@pytest.mark.parametrize("items", [
    [{"product_id": "PROD-001", "quantity": 10**7, "unit_price": 29.99}],
    [{"product_id": "PROD-001", "quantity": 1, "unit_price": 10**30}],
])
def test_amounts_beyond_exact_cent_storage_are_invalid_items(pipeline, items):
    assert codes_of(pipeline, variant(WEB, items=items)) == [["invalid_item"]]


@pytest.mark.parametrize(("changes", "path", "shown"), [
    ({"order_id": 123}, "$.order_id", "123 is a number"),
    ({"customer_id": {"a": 1}}, "$.customer_id", "{\"a\": 1} is an object"),
    ({"channel": 5}, "$.channel", "5 is a number"),
    ({"shipping_address": {"country": ["US"], "state": "CA", "city": "SF"}}, "$.shipping_address.country",
     '["US"] is a list'),
    ({"shipping_address": {"country": "US", "state": "CA", "city": True}}, "$.shipping_address.city",
     "true is a boolean"),
])
def test_a_text_field_of_another_json_type_is_malformed_not_turned_into_text(pipeline, changes, path, shown):
    pipeline.ingest_records("orders", [variant(WEB, **changes)])
    (event,) = pipeline.events(stream="orders")
    assert [p.code for p in event.problems] == ["malformed_record"]
    assert event.problems[0].reason == f"cannot structure: {shown}, not a string @ {path}"
    pipeline.project()
    assert pipeline.db["sales_orders"].count == 0


def test_a_product_id_that_is_not_text_is_an_invalid_item_and_sells_nothing(pipeline):
    items = [{"product_id": 1, "quantity": 1, "unit_price": 29.99}]
    assert codes_of(pipeline, variant(WEB, items=items)) == [["invalid_item"]]
    (event,) = pipeline.events(stream="orders")
    assert "items[0].product_id 1 is not a string" in event.problems[0].reason
    pipeline.project()
    assert pipeline.db["sales_order_lines"].count == 0


def test_a_catalog_product_id_that_is_not_text_is_malformed(pipeline, tmp_path):
    problems = _one_product(pipeline, tmp_path, '[{"product_id": 44, "name": "x", "category": "y", "price": 1.50}]')
    assert [p.code for p in problems] == ["malformed_record"]
    assert "$.product_id" in problems[0].reason


def test_an_inventory_row_written_another_way_is_a_new_record_not_a_duplicate(pipeline, tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("product_id,available_quantity,warehouse_location,last_updated\n"
                    "PROD-001,5,WH-SF,2024-01-15T09:00:00Z\n"
                    '"PROD-001",5,WH-SF,2024-01-15T09:00:00Z\n'
                    "PROD-001,5,WH-SF,2024-01-15T09:00:00Z\n")
    (summary,) = pipeline.ingest("inventory", path).sources
    assert (summary.read, summary.appended, summary.duplicates) == (3, 2, 1)
    (again,) = pipeline.ingest("inventory", path, resume=False).sources
    assert (again.read, again.appended, again.duplicates) == (3, 0, 3)
    pipeline.project()
    (row,) = [r for r in pipeline.report("inventory").rows if r["product_id"] == "PROD-001"]
    assert (row["available"], row["warehouses"]) == (5, 1)  # one level, read twice


def test_an_inventory_row_logged_by_an_older_version_is_still_a_duplicate(pipeline, tmp_path):
    """Before CSV rows were keyed on their own bytes, the log keyed them on their stored
    JSON; re-reading such a row after an upgrade must not append it a second time."""
    from fastcommerce.ingest import content_hash

    row = {"product_id": "PROD-001", "available_quantity": "5", "warehouse_location": "WH-SF",
           "last_updated": "2024-01-15T09:00:00Z"}
    raw = orjson.dumps(row)
    with pipeline.log.transaction():  # what an older version appended for this row
        pipeline.log.insert([("inventory", content_hash(raw), None, "2024-01-15T09:00:00.000000Z",
                              "2024-01-20T12:00:00.000000Z", "old.csv", 2, "csv", 1, None, None, raw)])
    path = tmp_path / "inv.csv"
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n"
                    + "PROD-001,6,WH-SF,2024-01-15T10:00:00Z\n")
    (summary,) = pipeline.ingest("inventory", path).sources
    assert (summary.read, summary.appended, summary.duplicates) == (2, 1, 1)


@pytest.mark.parametrize("text", [b"1e-400", b"1E-400", b"-1e-400", b"2.5e-324", b"1.5e-310"])
def test_a_price_too_small_for_a_binary_float_is_judged_on_its_written_value(pipeline, text):
    # a binary float reads 1e-400 as 0.0 (and 2.5e-324 as 5e-324): the price is a
    # non-zero value with more than 2 decimals (section 6), not a free item
    line = orjson.dumps(WEB).replace(b"29.99", text)
    assert codes_of(pipeline, line) == [["invalid_item"]]
    [event] = pipeline.events(stream="orders")
    assert str(Decimal(text.decode())) in event.problems[0].reason  # the value as written


@pytest.mark.parametrize("field", ["order_id", "customer_id", "channel", "status"])
def test_an_unpaired_surrogate_escape_is_a_malformed_record_not_a_crash(pipeline, tmp_path, field):
    # "\ud800" is an escape JSON's grammar allows, but the string it makes is not text that
    # UTF-8 (the stream's encoding, and SQLite's) can hold: inserting it raised
    # UnicodeEncodeError, at ingest (order_id) or in every catch-up of the sales projection
    line = orjson.dumps(WEB).replace(f'"{field}":"'.encode(), f'"{field}":"\\ud800'.encode(), 1)
    assert b"\\ud800" in line
    path = tmp_path / "orders.jsonl"
    path.write_bytes(line + b"\n" + orjson.dumps(WEB) + b"\n")
    (summary,) = pipeline.ingest("orders", path).sources
    assert (summary.read, summary.appended, summary.duplicates) == (2, 2, 0)
    pipeline.project()
    assert [sorted({p.code for p in e.problems}) for e in pipeline.events(stream="orders")] == [["malformed_record"], []]
    assert pipeline.report("customers").summary["customers"] == 1


def test_a_paired_surrogate_escape_is_ordinary_text(pipeline):
    line = orjson.dumps(WEB).replace(b'"CUST-1"', b'"CUST-\\ud83d\\ude00"')
    assert codes_of(pipeline, line) == [[]]
    pipeline.project()
    assert pipeline.report("customers").rows[0]["customer_id"] == "CUST-\U0001F600"


def test_the_exact_parser_refuses_an_unpaired_surrogate_in_a_record_already_in_the_log():
    from fastcommerce.reading import parse_exact
    with pytest.raises(ValueError, match="surrogate"):
        parse_exact(b'{"customer_id": "C\\udfff", "n": 12345678901234567890}')
    with pytest.raises(ValueError, match="surrogate"):
        parse_exact(b'{"customer_id\\ud800": "C"}')


MOBILE = {
    "order_id": "ORD-3", "customerId": "CUST-3", "timestamp": "2024-01-15T16:00:00+05:30",
    "channel": "mobile", "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": "29.99"}],
    "shipping_address": {"country": "IN", "city": "Pune"}, "status": "CONFIRMED",
}


@pytest.mark.parametrize("text", ["1_000.00", "\u0663\u0660.00", "\uff11\uff10.\uff10\uff10", "2.999e1", "Infinity"])
def test_a_decimal_string_takes_the_form_the_contract_names(pipeline, text):
    """Python's Decimal reads these; the contract's decimal string is "29.99"."""
    mobile = variant(MOBILE, items=[{"product_id": "PROD-001", "quantity": 1, "unit_price": text}])
    api = variant(API, items=[{"product_id": "PROD-001", "quantity": 2, "price": {"amount": text, "currency": "USD"}}])
    assert codes_of(pipeline, mobile, api) == [["invalid_item"], ["invalid_item"]]


@pytest.mark.parametrize("text", ["5_9.98", "\u0665\u0669.98", "5.998e1"])
def test_an_order_total_written_as_text_takes_the_same_form(pipeline, text):
    assert codes_of(pipeline, variant(API, order_total=text), variant(WEB, order_total=text)) == [
        ["total_mismatch"], ["total_mismatch"]]
    assert codes_of(pipeline, variant(API, order_id="ORD-9", order_total=" 59.980 "))[-1] == []


def test_a_decimal_string_may_have_a_sign_a_bare_fraction_and_spaces_around_it(pipeline):
    ok = variant(MOBILE, items=[{"product_id": "PROD-001", "quantity": 1, "unit_price": " 29.990 "}])
    negative = variant(MOBILE, order_id="ORD-4", items=[{"product_id": "PROD-001", "quantity": 1, "unit_price": "-1"}])
    assert codes_of(pipeline, ok, negative) == [[], ["invalid_item"]]
    assert next(pipeline.events(stream="orders")).payload.items[0].unit_price == Decimal("29.99")
