"""``fastcommerce serve``: a real Datasette on loopback, in a subprocess, over a real file."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from fastcommerce import Pipeline
from fastcommerce.core_docs import CORE_DOCS
from fastcommerce.money import round_money
from fastcommerce.serve_metadata import money_text

pytest.importorskip("datasette", reason="the serve extra is not installed (pip install '.[serve]')")

ROOT = Path(__file__).resolve().parent.parent
INTERNAL = {"_sqlite_migrations", "projection_state", "projection_runs", "canon_decoders", "canon_meta",
            "sales_watermark", "sqlite_sequence"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return json.loads(body) if url.split("?")[0].endswith(".json") else body.decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("serve") / "shop.db"
    with Pipeline(db) as p:
        p.run(ROOT / "sample_data")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fastcommerce.cli", "--db", str(db), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                _get(f"{base}/-/versions.json")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("serve did not answer within 90 s")
                time.sleep(0.3)
        yield base, db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_canned_query_returns_the_reports_rows(served):
    base, db = served
    rows = _get(f"{base}/shop/report_revenue.json?_shape=array&start=2024-01-15&end=2024-01-16")
    with Pipeline(db) as p:
        expected = p.report("revenue", start="2024-01-15", end="2024-01-16").rows
    assert len(rows) == len(expected) > 0
    for got, want in zip(rows, expected, strict=True):
        assert {k: got[k] for k in ("date", "channel", "country", "region", "orders", "units")} == \
               {k: want[k] for k in ("date", "channel", "country", "region", "orders", "units")}
        assert Decimal(got["revenue"]) == round_money(want["revenue"])
    ranked = _get(f"{base}/shop/report_products.json?_shape=array&by=revenue&limit=3")
    with Pipeline(db) as p:
        top = p.report("products", by="revenue", limit=3).rows
    assert [r["product_id"] for r in ranked] == [r["product_id"] for r in top]
    summary = {r["key"]: r["value"] for r in _get(f"{base}/shop/report_products_summary.json?_shape=array&limit=x")}
    assert "limit must be a whole number" in summary["error"]


def test_the_listing_hides_internal_tables_and_describes_the_rest(served):
    base, _db = served
    listing = _get(f"{base}/shop.json")
    visible = {t["name"] for t in listing["tables"] if not t["hidden"]}
    assert not visible & INTERNAL
    assert {"event_log", "sales_daily_revenue", "inventory_current", "quality_problems"} <= visible
    queries = {q["name"] for q in listing["queries"]}
    assert {f"report_{n}" for n in ("revenue", "products", "inventory", "customers", "operations", "quality")} <= queries
    meta = _get(f"{base}/-/metadata.json")["databases"]["shop"]["tables"]
    assert meta["sales_daily_revenue"]["units"]["revenue_cents"] == "usd_cents"
    assert "integer US cents" in meta["sales_daily_revenue"]["columns"]["revenue_cents"]
    log_doc = next(t for t in CORE_DOCS if t.name == "event_log")
    assert meta["event_log"]["description"] == log_doc.description
    page = _get(f"{base}/shop")
    assert 'href="/shop/sales_daily_revenue"' in page and 'href="/-/dashboard"' in page
    assert not [t for t in INTERNAL if f'href="/shop/{t}"' in page]  # listed only behind "hidden tables"
    revenue = next(q for q in listing["queries"] if q["name"] == "report_revenue")
    assert {"on", "start", "end", "limit"} <= set(revenue["params"])


def test_views_show_money_as_decimals_and_hashes_as_hex(served):
    base, db = served
    rows = _get(f"{base}/shop/sales_daily_revenue_readable.json?_shape=array&_size=max")
    with Pipeline(db) as p:
        cents = {(d, ch, c, r): v for d, ch, c, r, v in p.db.execute(
            "SELECT date, channel, country, region, revenue_cents FROM sales_daily_revenue")}
    assert len(rows) == len(cents) > 0
    for row in rows:
        assert Decimal(row["revenue"]) == Decimal(cents[(row["date"], row["channel"], row["country"], row["region"])]) / 100
    logged = _get(f"{base}/shop/event_log_readable.json?_shape=array&_size=5")
    for row in logged:
        assert row["content_hash"] == hashlib.sha256(row["raw"].encode()).hexdigest()
    html = _get(f"{base}/shop/event_log?_size=3")
    assert logged[0]["content_hash"] in html  # the table page shows the hash as hex too


def test_the_dashboard_is_served(served):
    base, _db = served
    page = _get(f"{base}/-/dashboard")
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page


@pytest.mark.parametrize("cents", [0, 1, 9, 10, 99, 100, 12345, -1, -5, -12345, 10**15 + 7])
def test_money_text_is_exact(cents):
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (c INTEGER)")
    conn.execute("INSERT INTO t VALUES (?)", [cents])
    (text,) = conn.execute(f"SELECT {money_text('c')} FROM t").fetchone()
    assert Decimal(text) == Decimal(cents) / 100 and len(text.split(".")[1]) == 2
