"""The error cases of the order stream: corrupted copies of real events.

Each error case is an extra line, a corrupted copy of one event of a real order, so the
order itself stays consistent and only that line is quarantined. Cases that found no
fitting order (tiny runs, silent windows) get a synthetic order of their own at the end.
"""

from __future__ import annotations

import copy
from typing import Any

from .cases import _ERROR_CODE, _ERROR_VARIANTS
from .constants import _ALL, _PENDING, _RAW, _STATUSES, _STATUSES_UP, API, MOBILE, WEB
from .formats import _cents, _encode, _money, _num
from .shapes import _OrderShapes
from .stream import _OrderStream

_FAR_FUTURE = 75 * 365 * 86400  # about 75 years: "more than one day after recording"


class _ErrorLines(_OrderShapes, _OrderStream):
    """Corrupting one event of an order per error case, and scheduling the bad line."""

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
