"""The marketplace plugin as a user meets it: installed, explicit, and added to an old log.

Every check goes through a real :class:`~fastcommerce.Pipeline` on a real SQLite file (or
an in-memory database for the property), so detection, the stored variant, read-time
upcasting, the built-in validators and cattrs structuring all take part.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

import fastcommerce_marketplace
from fastcommerce import OrderEvent, Pipeline

FIXED_NOW = datetime(2024, 1, 20, 12, 0, tzinfo=timezone.utc)

# The partner's states and the contract status each one means, written out here rather than
# read from the plugin, so the test checks the mapping instead of repeating it.
PARTNER_STATES = {
    "AWAITING_PAYMENT": "pending",
    "ACCEPTED": "confirmed",
    "DISPATCHED": "shipped",
    "DELIVERED": "delivered",
    "CANCELLED": "cancelled",
    "RETURNED": "refunded",
}


def mkp_v1(order_id: str = "ORD-123456", state: str = "DISPATCHED", **extra: Any) -> dict[str, Any]:
    """A partner record in the first shape: ``priceCents`` and one currency for the order."""
    return {
        "schema_version": "mkp-1",
        "partner": "acme-market",
        "orderRef": order_id,
        "buyer": {"id": "CUST-789", "address": {"countryCode": "us", "region": "CA", "city": "San Francisco"}},
        "occurredAt": "2024-01-15T12:30:00+02:00",
        "state": state,
        "currency": "USD",
        "lines": [{"sku": "PROD-001", "qty": 2, "priceCents": 2999},
                  {"sku": "PROD-002", "qty": 1, "priceCents": 105}],
        "totalCents": 6103,
        **extra,
    }


def mkp_v2(order_id: str = "ORD-123456", state: str = "DISPATCHED") -> dict[str, Any]:
    """The same order in the second shape: ``unitPriceCents`` and a currency per line."""
    record = mkp_v1(order_id, state)
    del record["currency"]
    record["schema_version"] = "mkp-2"
    record["lines"] = [{"sku": "PROD-001", "qty": 2, "unitPriceCents": 2999, "currency": "USD"},
                       {"sku": "PROD-002", "qty": 1, "unitPriceCents": 105, "currency": "USD"}]
    return record


WEB_TWIN = (
    '{"order_id": "ORD-123456", "customer_id": "CUST-789", "timestamp": "2024-01-15T10:30:00Z", '
    '"channel": "marketplace", "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 29.99}, '
    '{"product_id": "PROD-002", "quantity": 1, "unit_price": 1.05}], '
    '"shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, '
    '"status": "shipped", "order_total": 61.03}'
)
"""The canonical web record the partner records above stand for, as JSON text (so the
prices are exact JSON numbers)."""

CATALOG = [
    {"product_id": "PROD-001", "name": "Mug", "category": "home", "price": 29.99},
    {"product_id": "PROD-002", "name": "Spoon", "category": "home", "price": 1.05},
]
"""The products the records above use, at the prices they carry. Orders are checked
against the catalog as it stands at their place in the log (``unknown_product``,
``price_deviation``), so every pipeline loads it before its orders, as ``run`` does."""


def load_catalog(pipeline: Pipeline, products: list[dict[str, Any]] = CATALOG) -> None:
    summary = pipeline.ingest_records("catalog", products)
    assert summary.appended + summary.duplicates == len(products), summary
    assert summary.unknown_schema == 0 and summary.malformed == 0, summary


def to_json(value: Any) -> str:
    """JSON text in which every ``Decimal`` is written as a JSON number, digit for digit."""
    def number(o: Any) -> str:
        if isinstance(o, Decimal):
            return f"@dec:{o}@"
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    return re.sub(r'"@dec:([^"@]+)@"', r"\1", json.dumps(value, default=number))


def ingest_and_read(pipeline: Pipeline, records: list[Any]) -> list:
    start = pipeline.log.last_offset()
    summary = pipeline.ingest_records("orders", records)
    assert summary.appended == len(records), summary
    return list(pipeline.events(from_offset=start, stream="orders"))


def codes(event) -> set[str]:
    return {p.code for p in event.problems}


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "log.db"


@pytest.fixture
def pipeline(db_path):
    """Built-ins plus the plugin, registered explicitly, with a fixed clock."""
    p = Pipeline(db_path, load_entrypoints=False, plugins=[fastcommerce_marketplace], clock=lambda: FIXED_NOW)
    load_catalog(p)
    yield p
    p.close()


# -- (1) installed: found through the entry point --------------------------------------


def test_entry_point_loads_the_plugin_with_its_distribution_version(tmp_path):
    with Pipeline(tmp_path / "x.db", load_entrypoints=True) as p:
        infos = {i.name: i for i in p.plugins()}
        assert "marketplace" in infos, (
            "entry point 'marketplace' not found: pip install plugins/fastcommerce-marketplace"
        )
        info = infos["marketplace"]
        assert info.version == "0.1.0"
        assert not info.builtin
        assert info.hooks == ("register_schemas", "register_upcasters")
        orders = {(s["variant"], s["version"]): s for s in p.registry.describe()["orders"]}
        assert orders[("marketplace", 1)]["plugin"] == "marketplace"
        assert orders[("marketplace", 1)]["chain"] == ["marketplace v1 -> marketplace v2",
                                                      "marketplace v2 -> web v2"]


def test_only_entrypoints_can_leave_the_plugin_out(tmp_path):
    with Pipeline(tmp_path / "x.db", only_entrypoints=[]) as p:
        assert "marketplace" not in {i.name for i in p.plugins()}
        assert not p.registry.knows("orders", "marketplace", 1)


# -- (2) a partner record reads back as its canonical web twin ---------------------------


def test_partner_record_from_a_jsonl_file_equals_its_web_twin(pipeline, tmp_path):
    source = tmp_path / "orders.jsonl"
    source.write_text(json.dumps(mkp_v1()) + "\n" + WEB_TWIN + "\n", encoding="utf-8")
    summary = pipeline.ingest("orders", source).sources[0]
    assert (summary.read, summary.appended, summary.unknown_schema) == (2, 2, 0)

    partner, web = pipeline.events(stream="orders")
    assert (partner.record.variant, partner.record.schema_version) == ("marketplace", 1)
    assert (web.record.variant, web.record.schema_version) == ("web", 2)
    assert partner.problems == () and web.problems == ()
    assert isinstance(partner.payload, OrderEvent)
    assert partner.payload == web.payload
    assert set(partner.canonical) == set(web.canonical)  # the text may differ (offset, currency)

    order = partner.payload
    assert order.order_id == "ORD-123456" and order.status == "shipped" and order.channel == "marketplace"
    assert order.timestamp == datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc)
    assert order.timestamp.utcoffset() == timedelta(0)
    assert [i.unit_price for i in order.items] == [Decimal("29.99"), Decimal("1.05")]
    assert all(type(i.unit_price) is Decimal for i in order.items)
    assert order.order_total == Decimal("61.03")
    # the log keeps the record as received, partner keys included
    assert json.loads(partner.record.raw)["partner"] == "acme-market"
    assert partner.record.natural_key == "ORD-123456"


@pytest.mark.parametrize("state, status", sorted(PARTNER_STATES.items()))
def test_partner_states_map_to_contract_statuses(pipeline, state, status):
    (event,) = ingest_and_read(pipeline, [mkp_v1(state=state)])
    assert event.problems == ()
    assert event.payload.status == status


# -- (3) the key scenario: the plugin arrives after the records --------------------------


def test_records_kept_as_unknown_schema_become_valid_once_the_plugin_is_installed(db_path):
    records = [mkp_v1("ORD-1"), mkp_v2("ORD-2", state="DELIVERED"), json.loads(WEB_TWIN)]

    with Pipeline(db_path, load_entrypoints=False, clock=lambda: FIXED_NOW) as without:
        load_catalog(without)
        summary = without.ingest_records("orders", records)
        assert (summary.read, summary.appended, summary.unknown_schema) == (3, 3, 2)
        catalog_before = list(without.events(stream="catalog"))
        before = list(without.events(stream="orders"))
        status_before = without.status()
    assert len(catalog_before) == len(CATALOG) and not any(e.problems for e in catalog_before)
    assert [codes(e) for e in before] == [{"unknown_schema"}, {"unknown_schema"}, set()]
    assert [e.payload for e in before[:2]] == [None, None]
    assert all(e.quarantined for e in before[:2])

    with Pipeline(db_path, only_entrypoints=["marketplace"], clock=lambda: FIXED_NOW) as with_plugin:
        assert "marketplace" in {i.name for i in with_plugin.plugins()}
        catalog_after = list(with_plugin.events(stream="catalog"))
        after = list(with_plugin.events(stream="orders"))
        status_after = with_plugin.status()
        # delivering the same records again appends nothing: they are already in the log
        again = with_plugin.ingest_records("orders", records)
        assert (again.appended, again.duplicates) == (0, 3)
        assert with_plugin.status()["records"] == status_before["records"]

    # nothing was re-ingested: the same rows, at the same offsets, with the same bytes
    assert status_after["records"] == status_before["records"] == len(CATALOG) + 3
    assert status_after["last_offset"] == status_before["last_offset"] == len(CATALOG) + 3
    assert [(e.offset, e.record.raw) for e in catalog_after] == [(e.offset, e.record.raw) for e in catalog_before]
    assert [(e.offset, e.record.raw) for e in after] == [(e.offset, e.record.raw) for e in before]
    # the orders sit after the catalog that describes them
    assert [e.offset for e in after] == [len(CATALOG) + 1, len(CATALOG) + 2, len(CATALOG) + 3]
    # the log row still says what ingestion saw; reading applies the plugin now
    assert [e.record.rejected for e in after] == ["unknown_schema", "unknown_schema", None]
    assert [e.problems for e in after] == [(), (), ()]
    assert [e.payload.order_id for e in after] == ["ORD-1", "ORD-2", "ORD-123456"]
    assert [e.payload.status for e in after] == ["shipped", "delivered", "shipped"]
    assert after[0].payload.items == after[2].payload.items
    assert after[2].payload == before[2].payload


# -- (4) the chain: both steps run -------------------------------------------------------


def test_both_chain_steps_run_and_v1_and_v2_agree(pipeline):
    assert [(u.source, u.target) for _, u in pipeline.registry.chain("orders", "marketplace", 1)] == [
        (("marketplace", 1), ("marketplace", 2)), (("marketplace", 2), ("web", 2))]
    assert [(u.source, u.target) for _, u in pipeline.registry.chain("orders", "marketplace", 2)] == [
        (("marketplace", 2), ("web", 2))]

    v1, v2 = ingest_and_read(pipeline, [mkp_v1(), mkp_v2()])
    assert (v1.record.schema_version, v2.record.schema_version) == (1, 2)
    assert v1.problems == () and v2.problems == ()
    assert v1.canonical == v2.canonical
    assert v1.payload == v2.payload


def test_v1_step_alone_gives_the_v2_shape():
    step = fastcommerce_marketplace.upcast_v1_to_v2
    assert step(mkp_v1()) == mkp_v2()


def test_upcasters_are_pure():
    for record in (mkp_v1(), mkp_v2()):
        kept = copy.deepcopy(record)
        v2 = fastcommerce_marketplace.upcast_v1_to_v2(record) if record["schema_version"] == "mkp-1" else record
        fastcommerce_marketplace.upcast_v2_to_web(v2)
        assert record == kept
        assert v2 == mkp_v2()


# -- (5) explicit registration in code ---------------------------------------------------


def test_explicit_registration_without_entry_points(db_path):
    with Pipeline(db_path, load_entrypoints=False, plugins=[fastcommerce_marketplace],
                  clock=lambda: FIXED_NOW) as p:
        load_catalog(p)
        names = {i.name for i in p.plugins()}
        assert "fastcommerce_marketplace" in names and "marketplace" not in names
        (event,) = ingest_and_read(p, [mkp_v2()])
        assert event.problems == ()
        assert event.payload.channel == "marketplace"


# -- odd values: never raise, leave them for the validators ------------------------------


@pytest.mark.parametrize("change, code", [
    ({"lines": [{"sku": "PROD-001", "qty": 2, "priceCents": "29.99"}]}, "invalid_item"),
    ({"lines": [{"sku": "PROD-001", "qty": 2, "priceCents": 2999.5}]}, "invalid_item"),
    ({"lines": [{"sku": "PROD-001", "qty": 2, "priceCents": -100}]}, "invalid_item"),
    ({"lines": [{"sku": "PROD-001", "qty": 0, "priceCents": 100}]}, "invalid_item"),
    ({"lines": [{"sku": "PROD-001", "qty": 2}]}, "invalid_item"),
    ({"lines": ["PROD-001"]}, "invalid_item"),
    ({"lines": []}, "invalid_item"),
    ({"lines": "PROD-001"}, "invalid_item"),
    ({"lines": None}, "missing_field"),
    ({"state": "LOST_IN_TRANSIT"}, "invalid_status"),
    ({"state": 7}, "invalid_status"),
    ({"occurredAt": "2024-01-15 10:30:00"}, "invalid_timestamp"),
    ({"buyer": "CUST-789"}, "missing_field"),
    ({"currency": "EUR"}, "unsupported_currency"),
    ({"totalCents": 9999}, "total_mismatch"),
    ({"totalCents": True}, "total_mismatch"),
])
def test_odd_values_are_left_for_the_validators(pipeline, change, code):
    (event,) = ingest_and_read(pipeline, [{**mkp_v1(), **change}])
    assert code in codes(event)
    assert event.quarantined and event.payload is None


def test_a_missing_address_is_only_a_warning(pipeline):
    record = mkp_v1()
    record["buyer"] = {"id": "CUST-789"}
    (event,) = ingest_and_read(pipeline, [record])
    assert codes(event) == {"incomplete_address"} and not event.quarantined
    assert event.payload.shipping_address is None


def test_records_without_the_marker_are_not_claimed(pipeline):
    unknown = {**mkp_v1(), "schema_version": "mkp-9"}
    (event,) = ingest_and_read(pipeline, [unknown])
    assert codes(event) == {"unknown_schema"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(
    version=st.sampled_from(["mkp-1", "mkp-2"]),
    fields=st.dictionaries(
        st.sampled_from(["orderRef", "buyer", "occurredAt", "state", "currency", "lines", "totalCents"]),
        json_values),
    line=st.dictionaries(st.sampled_from(["sku", "qty", "priceCents", "unitPriceCents", "currency"]),
                         json_values),
    address=json_values,
)
def test_upcasting_never_raises_on_any_json_values(version, fields, line, address):
    record = {"schema_version": version, **fields}
    if isinstance(record.get("lines"), list):
        record["lines"] = [*record["lines"], line]
    if isinstance(record.get("buyer"), dict):
        record["buyer"] = {**record["buyer"], "address": address}
    kept = copy.deepcopy(record)
    v2 = fastcommerce_marketplace.upcast_v1_to_v2(record) if version == "mkp-1" else record
    canonical = fastcommerce_marketplace.upcast_v2_to_web(v2)
    assert record == kept
    assert canonical["channel"] == "marketplace"


# -- (6) property: any generated partner record reads back as its web twin ---------------

UTC = timezone.utc
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


@st.composite
def partner_orders(draw) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """A partner record (mkp-1 or mkp-2), the canonical web record it stands for, and a
    catalog holding its products (listed at the price of their first line)."""
    order_id = draw(st.from_regex(r"ORD-[0-9]{6}", fullmatch=True))
    customer_id = draw(st.from_regex(r"CUST-[0-9]{1,5}", fullmatch=True))
    moment = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2024, 1, 19),
                               timezones=st.sampled_from(ZONES))).replace(microsecond=0)
    state = draw(st.sampled_from(sorted(PARTNER_STATES)))
    lines = draw(st.lists(st.fixed_dictionaries({
        "sku": st.from_regex(r"PROD-[0-9]{3}", fullmatch=True),
        "qty": st.integers(1, 100),
        "cents": st.integers(0, 10**7),
    }), min_size=1, max_size=4))
    country = draw(st.sampled_from(["us", "US", "de", "gb"]))
    region = draw(st.one_of(st.none(), st.sampled_from(["CA", "NY", "TX"])))
    with_total = draw(st.booleans())
    version = draw(st.sampled_from(["mkp-1", "mkp-2"]))

    address = {"countryCode": country, "city": "Springfield"}
    if region is not None:
        address["region"] = region
    price_key = "priceCents" if version == "mkp-1" else "unitPriceCents"
    record: dict[str, Any] = {
        "schema_version": version,
        "partner": draw(st.sampled_from(["acme-market", "bazaar"])),
        "orderRef": order_id,
        "buyer": {"id": customer_id, "address": address},
        "occurredAt": moment.isoformat(),
        "state": state,
        "lines": [{"sku": ln["sku"], "qty": ln["qty"], price_key: ln["cents"]} for ln in lines],
    }
    if version == "mkp-1":
        record["currency"] = "USD"
    else:
        for out in record["lines"]:
            out["currency"] = "USD"
    total = sum(ln["qty"] * ln["cents"] for ln in lines)
    if with_total:
        record["totalCents"] = total

    def money(cents: int) -> Decimal:
        return Decimal(f"{cents // 100}.{cents % 100:02d}")

    web: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": customer_id,
        "timestamp": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "channel": "marketplace",
        "items": [{"product_id": ln["sku"], "quantity": ln["qty"], "unit_price": money(ln["cents"]),
                   "currency": "USD"} for ln in lines],
        "shipping_address": {"country": country.upper(), "city": "Springfield",
                             **({"state": region} if region is not None else {})},
        "status": PARTNER_STATES[state],
    }
    if with_total:
        web["order_total"] = money(total)
    listed: dict[str, int] = {}
    for ln in lines:
        listed.setdefault(ln["sku"], ln["cents"])
    catalog = [{"product_id": sku, "name": sku, "category": "test", "price": money(cents)}
               for sku, cents in sorted(listed.items())]
    return record, to_json(web), catalog


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partner_orders())
def test_property_partner_record_reads_back_as_its_web_twin(triple):
    record, web_line, catalog = triple
    with Pipeline(Database(memory=True), load_entrypoints=False, plugins=[fastcommerce_marketplace],
                  clock=lambda: FIXED_NOW) as p:
        load_catalog(p, [to_json(product) for product in catalog])
        partner, web = ingest_and_read(p, [record, web_line])
    assert web.record.variant == "web" and partner.record.variant == "marketplace"
    assert partner.problems == web.problems
    assert not partner.quarantined, partner.problems
    assert partner.payload == web.payload
    assert partner.record.natural_key == web.record.natural_key
    assert partner.record.event_time == web.record.event_time
