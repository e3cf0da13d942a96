"""Properties of ingestion, detection and upcasting, checked with hypothesis.

Every example runs against a fresh, real SQLite file (a temporary directory per example:
function-scoped pytest fixtures are not reset between hypothesis examples).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fastcommerce import (
    OrderEvent,
    Pipeline,
    PluginConfigError,
    Schema,
    Upcaster,
    hookimpl,
)
from fastcommerce.source_files import MAGIC

NOW = datetime(2030, 1, 1, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))

SETTINGS = dict(deadline=None, database=None,  # no example database written into the repository
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# For the "never raises" properties: no shrinking. Each example needs a fresh database, so
# shrinking a failure costs minutes; the explicit regression tests below give the minimal
# cases, and the unshrunk falsifying example is still printed.
NO_SHRINK = dict(SETTINGS, phases=(Phase.explicit, Phase.reuse, Phase.generate))


def clock() -> datetime:
    return NOW


# A fresh SQLite file per example. On tmpfs when there is one: the files are as real,
# and the fsyncs of creating a WAL database per example stop dominating the run time.
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@contextmanager
def fresh_pipeline(**kwargs: Any) -> Iterator[tuple[Pipeline, Path]]:
    with tempfile.TemporaryDirectory(prefix="fastcommerce-test-", dir=FAST_TMP) as d:
        with Pipeline(Path(d) / "log.db", load_entrypoints=False, clock=clock, **kwargs) as p:
            yield p, Path(d)


def log_hashes(p: Pipeline, stream: str = "orders") -> list[bytes]:
    return [r[0] for r in p.log.conn.execute(
        'SELECT content_hash FROM event_log WHERE stream = ? ORDER BY "offset"', [stream])]


def log_size(p: Pipeline) -> int:
    return p.log.conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]


def contract_lines(content: bytes) -> list[bytes]:
    """The contract's records of a JSONL file (section 6), computed independently of the
    reader: every line is a record, blank ones included; the newline that ends the file
    does not start a line; the line terminator (LF or CRLF) is not part of the record."""
    if not content:
        return []
    parts = content.split(b"\n")
    last = parts.pop()  # after the final LF: b"" (no line), else an unterminated last line
    lines = [p[:-1] if p.endswith(b"\r") else p for p in parts]  # CR LF is a line end too
    if last:
        lines.append(last)  # no LF: nothing to strip, a lone CR is part of the record
    return lines


def sha(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


# -- strategies -----------------------------------------------------------------------------

ids = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "")
money = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False, allow_infinity=False)
utc_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2029, 12, 31),
                           timezones=st.just(UTC))
statuses = st.sampled_from(["pending", "confirmed", "shipped", "delivered", "cancelled", "refunded"])
countries = st.sampled_from(["US", "CA", "GB", "DE", "IN", "FR", "JP"])


@st.composite
def canonical_orders(draw) -> dict[str, Any]:
    """A canonical web order, as Python values (no channel: each comparison sets it)."""
    items = draw(st.lists(
        st.fixed_dictionaries({"product_id": ids, "quantity": st.integers(1, 10_000), "unit_price": money}),
        min_size=1, max_size=5))
    address = draw(st.none() | st.fixed_dictionaries(
        {"country": countries},
        optional={"state": st.sampled_from(["CA", "NY", "TX", "ON", "KA"]), "city": ids}))
    moment = draw(utc_moments)
    if draw(st.booleans()):
        moment = moment.replace(microsecond=0)
    return {
        "order_id": draw(ids), "customer_id": draw(ids), "timestamp": moment,
        "items": items, "shipping_address": address, "status": draw(statuses),
    }


def dump(value: Any) -> str:
    """JSON text with ``Decimal`` written as an exact JSON number (never via a float)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def utc_text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def web_raw(o: dict[str, Any], channel: str, **extra: Any) -> str:
    rec = {"order_id": o["order_id"], "customer_id": o["customer_id"], "timestamp": utc_text(o["timestamp"]),
           "channel": channel, "items": o["items"], "status": o["status"]}
    if o["shipping_address"] is not None:
        rec["shipping_address"] = o["shipping_address"]
    rec.update(extra)
    return dump(rec)


def legacy_raw(o: dict[str, Any]) -> str:
    rec = {"order_id": o["order_id"], "customer_id": o["customer_id"], "timestamp": utc_text(o["timestamp"]),
           "items": [{"product_id": i["product_id"], "quantity": i["quantity"], "price": i["unit_price"]}
                     for i in o["items"]],
           "status": o["status"]}
    rec.update(o["shipping_address"] or {})
    return dump(rec)


def mobile_raw(o: dict[str, Any]) -> str:
    rec = {"order_id": o["order_id"], "customerId": o["customer_id"], "channel": "mobile",
           "timestamp": o["timestamp"].astimezone(IST).isoformat(),
           "items": [{**i, "unit_price": str(i["unit_price"])} for i in o["items"]],
           "status": o["status"].upper()}
    if o["shipping_address"] is not None:
        rec["shipping_address"] = o["shipping_address"]
    return dump(rec)


def order_total(o: dict[str, Any]) -> Decimal:
    return sum((i["unit_price"] * i["quantity"] for i in o["items"]), Decimal(0))


def api_v3_raw(o: dict[str, Any], with_channel: bool) -> str:
    rec: dict[str, Any] = {"schema_version": 3, "order_id": o["order_id"], "customer_id": o["customer_id"],
                           "timestamp": utc_text(o["timestamp"])}
    if with_channel:
        rec["channel"] = "api"
    rec["items"] = [{"product_id": i["product_id"], "quantity": i["quantity"],
                     "price": {"amount": str(i["unit_price"]), "currency": "USD"}} for i in o["items"]]
    if o["shipping_address"] is not None:
        rec["shipping_address"] = {**o["shipping_address"], "country": o["shipping_address"]["country"].lower()}
    rec["status"] = o["status"]
    rec["order_total"] = str(order_total(o))
    rec["metadata"] = {"source": "partner-api", "request_id": "req-1", "nested": {"a": [1, 2.5, None]}}
    rec["coupon_code"] = "SAVE10"
    return dump(rec)


junk_lines = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"   ", b"\t", b"\r", b"{", b"[1, 2]", b"null", b'"text"', b"42", b"{}",
                     b'{"order_id": 1', b"\xff\xfe\x00", b'{"schema_version": 9}', b"NaN",
                     b'{"a": NaN}', b'{"channel": "web"}', b"\x00", b" {} "]),
).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))
# (a record cannot end with CR in a file with LF line ends: the reader takes CR LF as the
# line end; files with such lines are generated in ``jsonl_files`` below)


@st.composite
def valid_order_lines(draw) -> bytes:
    o = draw(canonical_orders())
    kind = draw(st.sampled_from(["web", "legacy", "mobile", "api"]))
    text = {"web": lambda: web_raw(o, draw(st.sampled_from(["web", "store", "api", "mobile"]))),
            "legacy": lambda: legacy_raw(o), "mobile": lambda: mobile_raw(o),
            "api": lambda: api_v3_raw(o, draw(st.booleans()))}[kind]()
    return text.encode("utf-8")


# a file that starts with a compression format's magic bytes is read as that format
# (fastcommerce.source_files, tested in test_compressed_sources.py): these properties are of
# plain JSON Lines files, so no line here starts with one
_MAGICS = tuple(magic for magic, _kind in MAGIC)
any_line = st.one_of(junk_lines, valid_order_lines()).filter(lambda line: not line.startswith(_MAGICS))


@st.composite
def jsonl_files(draw) -> bytes:
    """File content: arbitrary lines, LF or CRLF, with or without a final newline."""
    lines = draw(st.lists(any_line | st.sampled_from([b"x\r", b"\r", b'{"a": 1}\r']), max_size=25))
    if not lines:
        return b""
    # re-deliveries inside the same file
    lines += draw(st.lists(st.sampled_from(lines), max_size=5))
    lines = draw(st.permutations(lines))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines)))
    content = b"".join(line + end for line, end in zip(lines, ends))
    if draw(st.booleans()):
        content = content[: -len(ends[-1])]  # no newline at the end of the file
    return content


# -- (a) and (c): re-ingesting a file appends nothing; read == appended + duplicates --------


def check_summary(s, expected_read: int) -> None:
    assert s.read == expected_read
    assert s.read == s.appended + s.duplicates
    assert s.malformed + s.unknown_schema <= s.appended


@settings(max_examples=60, **SETTINGS)
@given(content=jsonl_files(), batch_size=st.integers(1, 7))
def test_reingesting_any_file_appends_nothing(content, batch_size):
    lines = contract_lines(content)
    with fresh_pipeline(batch_size=batch_size) as (p, d):
        src = d / "orders.jsonl"
        src.write_bytes(content)
        os.utime(src, (0, 0))  # a complete file: its last line counts without a newline (it has settled)

        first = p.ingest("orders", src).sources[0]
        check_summary(first, len(lines))
        assert first.appended == len(set(lines)) == log_size(p)
        assert set(log_hashes(p)) == {sha(line) for line in lines}

        again = p.ingest("orders", src).sources[0]  # resume: nothing new
        check_summary(again, 0)
        assert again.appended == 0 and again.skipped == len(lines)

        replay = p.ingest("orders", src, resume=False).sources[0]
        check_summary(replay, len(lines))
        assert replay.appended == 0 and replay.duplicates == len(lines)

        as_records = p.ingest_records("orders", lines)  # same bytes through the Python API
        check_summary(as_records, len(lines))
        assert as_records.appended == 0
        assert log_size(p) == first.appended


@settings(max_examples=40, **SETTINGS)
@given(base=st.lists(any_line, min_size=1, max_size=20), more=st.lists(any_line, max_size=10),
       batch_size=st.integers(1, 5))
def test_grown_file_appends_only_the_new_lines(base, more, batch_size):
    """A file that grows between runs resumes at its checkpoint; reading it again from the
    start (``resume=False``) still appends nothing twice."""
    with fresh_pipeline(batch_size=batch_size) as (p, d):
        src = d / "orders.jsonl"
        src.write_bytes(b"".join(line + b"\n" for line in base))
        s1 = p.ingest("orders", src).sources[0]
        check_summary(s1, len(base))
        with open(src, "ab") as fh:
            fh.write(b"".join(line + b"\n" for line in more))
        s2 = p.ingest("orders", src).sources[0]
        check_summary(s2, len(more))
        assert s2.resumed_from_line == len(base)
        assert s2.appended == len(set(more) - set(base))
        s3 = p.ingest("orders", src, resume=False).sources[0]
        check_summary(s3, len(base) + len(more))
        assert s3.appended == 0
        assert set(log_hashes(p)) == {sha(line) for line in base + more}


# -- (b): any mix of re-deliveries gives the same set of idempotency keys -------------------


@st.composite
def deliveries(draw):
    lines = draw(st.lists(any_line, min_size=1, max_size=20, unique=True))
    files = []
    for _ in range(draw(st.integers(1, 4))):
        files.append(draw(st.lists(st.sampled_from(lines), max_size=30)))
    # every line is delivered at least once, somewhere, in any order
    files.append(draw(st.permutations(lines)))
    files = draw(st.permutations(files))
    how = draw(st.lists(st.sampled_from(["file", "records"]), min_size=len(files), max_size=len(files)))
    return lines, files, how


@settings(max_examples=40, **SETTINGS)
@given(case=deliveries(), batch_size=st.integers(1, 6))
def test_any_mix_of_redeliveries_gives_the_same_idempotency_keys(case, batch_size):
    lines, files, how = case
    with fresh_pipeline(batch_size=batch_size) as (once, d1):
        src = d1 / "once.jsonl"
        src.write_bytes(b"".join(line + b"\n" for line in lines))
        s = once.ingest("orders", src).sources[0]
        check_summary(s, len(lines))
        expected = log_hashes(once)
    assert sorted(expected) == sorted(sha(line) for line in lines)

    with fresh_pipeline(batch_size=batch_size) as (p, d):
        total_read = total_appended = 0
        for n, (batch, via) in enumerate(zip(files, how)):
            if via == "file":
                f = d / f"delivery-{n}.jsonl"
                f.write_bytes(b"".join(line + b"\n" for line in batch))
                s = p.ingest("orders", f).sources[0]
            else:
                s = p.ingest_records("orders", batch, source=f"delivery-{n}")
            check_summary(s, len(batch))
            total_read += s.read
            total_appended += s.appended
            assert log_size(p) == total_appended
        got = log_hashes(p)
    assert len(got) == len(set(got))
    assert set(got) == set(expected)
    assert total_appended == len(lines)


# -- (d): every variant upcasts to the same order as its web twin ---------------------------


def read_payloads(p: Pipeline) -> list:
    events = list(p.events(stream="orders"))
    for e in events:
        assert not e.quarantined, [(pr.code, pr.reason) for pr in e.problems]
        assert isinstance(e.payload, OrderEvent)
    return [e.payload for e in events]


@settings(max_examples=60, **SETTINGS)
@given(o=canonical_orders(), api_channel=st.booleans())
def test_each_variant_upcasts_to_the_same_order_as_its_web_twin(o, api_channel):
    pairs = {
        "legacy": (legacy_raw(o), web_raw(o, "web")),
        "mobile": (mobile_raw(o), web_raw(o, "mobile")),
        "api": (api_v3_raw(o, api_channel), web_raw(o, "api", order_total=order_total(o))),
    }
    catalog = {}
    for i in o["items"]:
        catalog.setdefault(i["product_id"], i["unit_price"])
    with fresh_pipeline() as (p, _):
        # the catalog first: orders are checked against it (unknown_product)
        products = [dump({"product_id": pid, "name": f"name {pid}", "category": "cat", "price": price})
                    for pid, price in catalog.items()]
        assert p.ingest_records("catalog", products).appended == len(products)
        for variant, (raw, twin) in pairs.items():
            s = p.ingest_records("orders", [raw, twin], source=variant)
            assert s.appended == 2, (variant, raw, twin)
        rows = p.log.conn.execute(
            'SELECT source, variant, schema_version, natural_key, event_time FROM event_log '
            'WHERE stream = \'orders\' ORDER BY "offset"'
        ).fetchall()
        payloads = read_payloads(p)
    expected_nodes = {"legacy": ("legacy", 1), "mobile": ("mobile", 1), "api": ("api", 3)}
    for k, variant in enumerate(pairs):
        (_, v, ver, key, t), (_, tv, tver, tkey, tt) = rows[2 * k], rows[2 * k + 1]
        assert (v, ver) == expected_nodes[variant]
        assert (tv, tver) == ("web", 2)
        assert key == tkey == o["order_id"] and t == tt
        got, twin = payloads[2 * k], payloads[2 * k + 1]
        assert got == twin, variant
        # and both are the order that was generated
        assert got.timestamp == o["timestamp"]
        assert got.status == o["status"]
        assert [(i.product_id, i.quantity, i.unit_price, i.currency) for i in got.items] == [
            (i["product_id"], i["quantity"], i["unit_price"], "USD") for i in o["items"]]
    assert payloads[5].order_total == order_total(o)
    assert payloads[1].channel == "web" and payloads[3].channel == "mobile" and payloads[5].channel == "api"


# -- (e): detection and ingestion never raise, whatever JSON comes in ----------------------

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(["web", "mobile", "api", "WEB", "2", "3", "", "2024-01-15T10:30:00Z",
                     "2024-01-15T10:30:00+05:30", "0001-01-01T00:00:00Z"]),
)
KEYS = st.one_of(
    st.sampled_from(["channel", "schema_version", "customerId", "customer_id", "order_id", "items",
                     "timestamp", "status", "price", "unit_price", "shipping_address", "country",
                     "order_total", "amount", "currency", "quantity", "product_id"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=25,
)
interesting = st.fixed_dictionaries(
    {},
    optional={"channel": st.sampled_from(["web", "mobile", "api", None, 3, "Mobile"]),
              "schema_version": st.sampled_from([1, 2, 3, 4, True, False, "3", 3.0, None, -1, 2**70]),
              "customerId": SCALARS, "customer_id": SCALARS, "items": json_values,
              "order_id": SCALARS, "timestamp": SCALARS, "status": SCALARS,
              "shipping_address": json_values, "order_total": SCALARS, "country": SCALARS},
)
any_json = st.one_of(json_values, interesting)


def contract_variant(value: Any) -> tuple[str, int] | None:
    """Section 1 of the contract, written out independently of the built-in detectors."""
    if not isinstance(value, dict):
        return None
    has_version = "schema_version" in value
    version = value.get("schema_version")
    int_version = type(version) is int
    if has_version:
        if int_version and version == 3:
            return ("api", 3)
        if int_version and version == 2 and "channel" in value:
            return ("web", 2)
        return None
    if "channel" not in value:
        return ("legacy", 1)
    if value.get("channel") == "mobile" and "customerId" in value:
        return ("mobile", 1)
    return ("web", 2)


@pytest.fixture(scope="module")
def module_pipeline(tmp_path_factory):
    with Pipeline(tmp_path_factory.mktemp("detect") / "log.db", load_entrypoints=False, clock=clock) as p:
        yield p


@settings(max_examples=400, **SETTINGS)
@given(value=any_json)
def test_detection_never_raises_and_follows_the_contract(module_pipeline, value):
    schema = module_pipeline.registry.detect("orders", value)  # PluginConfigError = two claims
    assert schema is None or isinstance(schema, Schema)
    got = None if schema is None else schema.node
    assert got == contract_variant(value)
    for stream in ("inventory", "catalog"):
        s = module_pipeline.registry.detect(stream, value)
        assert s is None or isinstance(s, Schema)


@settings(max_examples=120, **NO_SHRINK)
@given(values=st.lists(any_json, max_size=8))
def test_ingest_records_of_arbitrary_json_values_never_raises(values):
    with fresh_pipeline(batch_size=3) as (p, _):
        s = p.ingest_records("orders", values)
        check_summary(s, len(values))
        assert log_size(p) == s.appended
        again = p.ingest_records("orders", values)
        check_summary(again, len(values))
        assert again.appended == 0


@settings(max_examples=80, **NO_SHRINK)
@given(values=st.lists(any_json, max_size=8))
def test_reading_back_arbitrary_records_never_raises(values):
    """Whatever was ingested, reading it back gives one event per record, each either
    quarantined with its reasons or carrying a structured payload."""
    with fresh_pipeline() as (p, _):
        s = p.ingest_records("orders", values)
        events = list(p.events())
    assert len(events) == s.appended
    for e in events:
        assert e.quarantined == (e.payload is None)
        if e.quarantined:
            assert all(pr.reason for pr in e.errors)


@pytest.mark.parametrize("timestamp", [
    "0001-01-01T00:00:00+05:30",   # before datetime.min once moved to UTC
    "9999-12-31T23:59:59-05:30",   # after datetime.max once moved to UTC
])
def test_out_of_range_mobile_timestamp_is_kept_not_a_crash(tmp_path, timestamp):
    """A mobile record whose local timestamp cannot be moved to UTC is one bad record (an
    ``invalid_timestamp`` at read time), not a failure of the whole ingestion."""
    rec = {"order_id": "ORD-1", "customerId": "C-1", "channel": "mobile", "timestamp": timestamp,
           "items": [{"product_id": "P-1", "quantity": 1, "unit_price": "1.00"}], "status": "PENDING"}
    src = tmp_path / "orders.jsonl"
    src.write_text(json.dumps(rec) + "\n" + web_raw(
        {"order_id": "ORD-2", "customer_id": "C-2", "timestamp": NOW - timedelta(days=1),
         "items": [{"product_id": "P-1", "quantity": 1, "unit_price": Decimal("1.00")}],
         "shipping_address": None, "status": "pending"}, "web") + "\n")
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock) as p:
        p.ingest_records("catalog", ['{"product_id": "P-1", "name": "a", "category": "c", "price": 1}'])
        s = p.ingest("orders", src).sources[0]
        assert (s.read, s.appended) == (2, 2)
        events = list(p.events(stream="orders"))
    assert events[0].quarantined
    assert "invalid_timestamp" in {pr.code for pr in events[0].errors}
    assert not events[1].quarantined


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:30"])
def test_out_of_range_web_timestamp_reads_back_as_invalid_timestamp(tmp_path, timestamp):
    rec = {"order_id": "ORD-1", "customer_id": "C-1", "channel": "web", "timestamp": timestamp,
           "items": [{"product_id": "P-1", "quantity": 1, "unit_price": 1}], "status": "pending"}
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock) as p:
        s = p.ingest_records("orders", [json.dumps(rec)])
        assert s.appended == 1
        (event,) = list(p.events())
    assert event.quarantined
    assert "invalid_timestamp" in {pr.code for pr in event.errors}


@pytest.mark.parametrize("price", ["1e30", "12345678901234567890123456789.5", "1e27"])
def test_huge_unit_price_reads_back_without_raising(tmp_path, price):
    """A price with more digits than the decimal context holds (28) is still one record
    to judge (valid, or invalid_item), never an exception out of the reader or the
    projections."""
    raw = ('{"order_id": "ORD-1", "customer_id": "C-1", "timestamp": "2024-01-15T10:30:00Z", '
           '"channel": "web", "items": [{"product_id": "P-1", "quantity": 1000, "unit_price": %s}], '
           '"shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "confirmed"}' % price)
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock) as p:
        assert p.ingest_records("orders", [raw]).appended == 1
        (event,) = list(p.events())
        p.project()
    assert event.quarantined == (event.payload is None)


@pytest.mark.parametrize("timestamp", ["0999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "0100-06-01T12:00:00+00:00"])
def test_order_dated_before_year_1000_does_not_poison_the_log(tmp_path, timestamp):
    """One record with a (valid ISO-8601) timestamp before year 1000 is one record to
    judge; the rest of the log must stay readable and projectable."""
    rec = {"order_id": "ORD-1", "customer_id": "C-1", "timestamp": timestamp, "channel": "web",
           "items": [{"product_id": "P-1", "quantity": 1, "unit_price": 1}], "status": "pending"}
    good = dict(rec, order_id="ORD-2", timestamp="2029-12-31T00:00:00Z")
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock) as p:
        assert p.ingest_records("orders", [json.dumps(rec), json.dumps(good)]).appended == 2
        events = list(p.events())
        p.project()
    assert len(events) == 2
    assert events[1].canonical["order_id"] == "ORD-2"


def test_ingest_records_with_a_lone_surrogate_string_is_kept_as_malformed(tmp_path):
    """A ``str`` record is a line of text; one that cannot be encoded (a lone surrogate,
    as ``json.loads('"\\ud800"')`` produces) is a malformed record, not a crash."""
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock) as p:
        s = p.ingest_records("orders", ["\ud800", '{"order_id": "\ud800"}', "ok"])
        assert s.read == 3 == s.appended + s.duplicates
        assert s.malformed == 3


# -- (f): upcaster chains from a plugin ------------------------------------------------------

X_VERSION = "x-1"


def x_detect(record: Any) -> bool:
    return isinstance(record, dict) and record.get("schema_version") == X_VERSION


def x1_to_x2(r: dict) -> dict:  # "cust" -> "customer_id"
    out = {k: v for k, v in r.items() if k != "cust"}
    out["customer_id"] = r["cust"]
    out["schema_version"] = "x-2"
    return out


def x2_to_x3(r: dict) -> dict:  # prices in integer cents -> decimal unit_price
    out = dict(r)
    out["items"] = [{"product_id": i["sku"], "quantity": i["qty"],
                     "unit_price": Decimal(i["cents"]) / 100} for i in r["items"]]
    out["schema_version"] = "x-3"
    return out


def x3_to_web(r: dict) -> dict:  # epoch seconds -> ISO timestamp, channel implied
    out = {k: v for k, v in r.items() if k not in ("schema_version", "epoch")}
    out["timestamp"] = datetime.fromtimestamp(r["epoch"], UTC).isoformat()
    out["channel"] = "web"
    return out


def step(frm: int, to: int | None, fn) -> Upcaster:
    if to is None:
        return Upcaster(stream="orders", variant="x", from_version=frm, to_variant="web", to_version=2, upcast=fn)
    return Upcaster(stream="orders", variant="x", from_version=frm, to_version=to, upcast=fn)


X_SCHEMA = Schema(stream="orders", variant="x", version=1, detect=x_detect, description="throwaway")


class XSchemaPlugin:
    def __init__(self, steps=()):
        self.steps = list(steps)

    @hookimpl
    def register_schemas(self):
        return [X_SCHEMA]

    @hookimpl
    def register_upcasters(self):
        return self.steps


class XStepsPlugin:
    def __init__(self, steps):
        self.steps = list(steps)

    @hookimpl
    def register_upcasters(self):
        return self.steps


class XRivalStepsPlugin(XStepsPlugin):
    pass


FULL_CHAIN = [step(1, 2, x1_to_x2), step(2, 3, x2_to_x3), step(3, None, x3_to_web)]


@pytest.mark.parametrize("split", ["one_plugin", "two_plugins"])
def test_three_step_chain_from_a_plugin_upcasts_like_its_web_twin(tmp_path, split):
    plugins = ([XSchemaPlugin(FULL_CHAIN)] if split == "one_plugin"
               else [XSchemaPlugin(FULL_CHAIN[:1]), XStepsPlugin(FULL_CHAIN[1:])])
    x = {"schema_version": X_VERSION, "order_id": "ORD-9", "cust": "C-9", "epoch": 1705314600,
         "items": [{"sku": "P-1", "qty": 2, "cents": 2999}, {"sku": "P-2", "qty": 1, "cents": 5}],
         "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "shipped",
         "extra": {"kept": "in the raw record"}}
    twin = {"order_id": "ORD-9", "customer_id": "C-9", "timestamp": "2024-01-15T10:30:00Z", "channel": "web",
            "items": [{"product_id": "P-1", "quantity": 2, "unit_price": 29.99},
                      {"product_id": "P-2", "quantity": 1, "unit_price": 0.05}],
            "shipping_address": {"country": "US", "state": "CA", "city": "SF"}, "status": "shipped"}
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock, plugins=plugins) as p:
        chain = p.registry.chain("orders", "x", 1)
        assert [(u.source, u.target) for _, u in chain] == [
            (("x", 1), ("x", 2)), (("x", 2), ("x", 3)), (("x", 3), ("web", 2))]
        owners = [name for name, _ in chain]
        assert owners == (["XSchemaPlugin"] * 3 if split == "one_plugin"
                          else ["XSchemaPlugin", "XStepsPlugin", "XStepsPlugin"])
        p.ingest_records("catalog", ['{"product_id": "P-1", "name": "a", "category": "c", "price": 29.99}',
                                     '{"product_id": "P-2", "name": "b", "category": "c", "price": 0.05}'])
        s = p.ingest_records("orders", [x, twin])
        assert s.appended == 2
        variants = p.log.conn.execute('SELECT variant, schema_version, natural_key, event_time '
                                      'FROM event_log WHERE stream = \'orders\' ORDER BY "offset"').fetchall()
        got, expected = read_payloads(p)
        raw_x = p.log.get(3).raw
    assert variants[0][:3] == ("x", 1, "ORD-9") and variants[1][:3] == ("web", 2, "ORD-9")
    assert variants[0][3] == variants[1][3]
    assert got == expected
    assert json.loads(raw_x) == x  # the log keeps what was received


def test_chain_with_a_gap_names_both_plugins(tmp_path):
    """x v1 -> x v2 comes from one plugin, x v3 -> web from another, and nothing upcasts
    x v2: the error names the plugin that registered the schema and the one whose step
    leads into the gap."""
    plugins = [XSchemaPlugin(), XStepsPlugin([FULL_CHAIN[0], FULL_CHAIN[2]])]
    with pytest.raises(PluginConfigError) as info:
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=plugins)
    msg = str(info.value)
    assert "gap" in msg and "x v2" in msg
    assert "XSchemaPlugin" in msg and "XStepsPlugin" in msg, msg


def test_chain_with_a_gap_at_its_start_names_the_schema_plugin(tmp_path):
    with pytest.raises(PluginConfigError, match="XSchemaPlugin") as info:
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[XSchemaPlugin(), XStepsPlugin(FULL_CHAIN[1:])])
    assert "x v1" in str(info.value)


def test_duplicate_step_names_both_plugins(tmp_path):
    plugins = [XSchemaPlugin(FULL_CHAIN), XRivalStepsPlugin([step(2, 3, x2_to_x3)])]
    with pytest.raises(PluginConfigError) as info:
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=plugins)
    msg = str(info.value)
    assert "x v2" in msg
    assert "XSchemaPlugin" in msg and "XRivalStepsPlugin" in msg, msg


def test_chain_that_loops_is_refused(tmp_path):
    loop = [step(1, 2, x1_to_x2), step(2, 1, dict)]
    with pytest.raises(PluginConfigError, match="loops"):
        Pipeline(tmp_path / "log.db", load_entrypoints=False, plugins=[XSchemaPlugin(loop)])


def test_two_plugins_claiming_one_record_is_a_config_error_not_a_guess(tmp_path):
    class Greedy:
        @hookimpl
        def register_schemas(self):
            return [Schema(stream="orders", variant="greedy", version=1, detect=lambda r: isinstance(r, dict))]

        @hookimpl
        def register_upcasters(self):
            return [Upcaster(stream="orders", variant="greedy", from_version=1, to_variant="web",
                             to_version=2, upcast=dict)]

    with Pipeline(tmp_path / "log.db", load_entrypoints=False, clock=clock, plugins=[Greedy()]) as p:
        with pytest.raises(PluginConfigError) as info:
            p.ingest_records("orders", [{"channel": "web"}])
        assert "Greedy" in str(info.value) and "fastcommerce.builtins.orders" in str(info.value)
        assert log_size(p) == 0
