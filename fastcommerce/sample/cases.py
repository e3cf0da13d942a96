"""The bad-data cases of the data contract that the sample writes, and their codes.

One table per source says which case carries which code and, for orders, which variants
it fits; the generator, the summary keys and the tests all follow these tables.
"""

from __future__ import annotations

from .constants import _ALL, API, LEGACY, WEB

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
