"""The dashboard's numbers are the reports' numbers (golden tests over a generated sample,
replayed day by day with the alerts evaluated each day), the page carries them as drawn,
and it needs nothing from the network."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dashboard_replay import SPIKE, Replayed, open_replayed, replay
from hypothesis import given
from hypothesis import strategies as st

from fastcommerce.dashboard import gather, render, write_dashboard
from fastcommerce.dashboard.data import TOP_PRODUCTS
from fastcommerce.dashboard.svg import Marker, line_chart, nice_step
from fastcommerce.monitoring.alerts import list_alerts


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replay(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def pipeline(replayed):
    p = open_replayed(replayed)
    yield p
    p.close()


@pytest.fixture
def data(pipeline):
    return gather(pipeline)


class Marks(HTMLParser):
    """Per chart (``figure[data-chart]``), the attributes of its marks and anomaly rings."""

    def __init__(self) -> None:
        super().__init__()
        self.chart: str | None = None
        self.marks: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.rings: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.tables: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "figure" and "data-chart" in a:
            self.chart = a["data-chart"]
        cls = a.get("class", "").split()
        if self.chart and "mark" in cls:
            self.marks[self.chart].append(a)
        if self.chart and "anomaly" in cls:
            self.rings[self.chart].append(a)
        if "data-table" in a:
            self.tables.add(a["data-table"])

    def handle_endtag(self, tag):
        if tag == "figure":
            self.chart = None


def parsed(html: str) -> Marks:
    m = Marks()
    m.feed(html)
    return m


def series(marks: list[dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for a in marks:
        out[a["data-series"]][a["data-x"]] = Decimal(a["data-value"])
    return out


# --------------------------------------------------------------------------- golden numbers

def test_daily_revenue_and_orders_per_channel_are_each_days_revenue_report(pipeline, data):
    assert (data.start, data.end) == ("2024-01-15", "2024-01-18")
    days = [d for d, _ in next(iter(data.revenue_by_channel.values()))]
    assert days == ["2024-01-15", "2024-01-16", "2024-01-17", "2024-01-18"]
    for day_index, day in enumerate(days):
        report = pipeline.report("revenue", catch_up=False, on=day)
        shown = {ch: points[day_index][1] for ch, points in data.revenue_by_channel.items()}
        assert {ch: v for ch, v in shown.items() if v} == report.summary["revenue_by_channel"]
        assert sum(points[day_index][1] for points in data.orders_by_channel.values()) == report.summary["orders"]
    assert set(data.revenue_by_channel) == {"api", "mobile", "web"}


def test_region_bars_add_up_to_the_range_revenue(pipeline, data):
    report = pipeline.report("revenue", catch_up=False, start=data.start, end=data.end)
    assert data.regions == len(data.revenue_by_region)  # the sample's regions all fit
    assert sum(v for _, v in data.revenue_by_region) == report.summary["revenue"]
    values = [v for _, v in data.revenue_by_region]
    assert values == sorted(values, reverse=True)
    us_ca = sum(r["revenue"] for r in report.rows if r["region"] == "US-CA")
    assert dict(data.revenue_by_region)["US-CA"] == us_ca


def test_top_products_are_the_products_report(pipeline, data):
    for by, shown in (("units", data.products_by_units), ("revenue", data.products_by_revenue)):
        report = pipeline.report("products", catch_up=False, by=by, start=data.start, end=data.end, limit=TOP_PRODUCTS)
        assert shown.rows == report.rows and len(shown.rows) == TOP_PRODUCTS


def test_inventory_turnover_and_low_stock_are_the_inventory_report(pipeline, data):
    report = pipeline.report("inventory", catch_up=False, start=data.start, end=data.end)
    assert [r["product_id"] for r in data.low_stock] == [r["product_id"] for r in report.rows if r["low_stock"]]
    assert data.low_stock, "the replayed sample runs some products out of stock"
    best = max(r["turnover"] for r in report.rows if r["turnover"] is not None)
    assert data.top_turnover[0]["turnover"] == best
    by_id = {r["product_id"]: r for r in report.rows}
    assert all(by_id[r["product_id"]]["turnover"] == r["turnover"] for r in data.top_turnover)


def test_the_last_day_against_the_usual_is_the_usual_report(pipeline, data):
    report = pipeline.report("usual", catch_up=False, on=data.end)
    assert data.usual.rows == report.rows and report.rows and report.summary["date"] == data.end
    html = render(data)
    start = html.index('data-table="usual"')
    table = html[start:html.index("</table>", start)]
    for r in report.rows:  # each channel's row carries the report's numbers, as people read them
        assert f">{r['channel']}</td>" in table and f">{r['orders']:,}</td>" in table
        assert f">{r['revenue']:,.2f}</td>" in table


def test_customer_histogram_agrees_with_the_customers_summary(pipeline, data):
    summary = pipeline.report("customers", catch_up=False, start=data.start, end=data.end).summary
    counts = dict(data.orders_per_customer)
    assert sum(counts.values()) == summary["customers"]
    repeat = Decimal(summary["customers"] - counts["1"]) / summary["customers"]
    assert repeat.quantize(Decimal("0.0001")) == summary["repeat_customer_rate"]


def test_quality_by_code_over_time_adds_up_to_the_quality_report(pipeline, data):
    whole = pipeline.report("quality", catch_up=False, limit=0).summary["codes"]
    assert set(data.quality_by_code) == set(whole)
    for code, points in data.quality_by_code.items():
        assert sum(n for _, n in points) == whole[code]["records"], code
    recorded = [r["date"] for r in pipeline.report("operations", catch_up=False).rows]
    assert all([d for d, _ in points] == recorded for points in data.quality_by_code.values())
    assert len(recorded) == 4  # one batch a day


def test_health_and_alerts_are_the_recorded_ones(pipeline, data):
    assert data.health["log"]["last_offset"] == pipeline.status()["last_offset"]
    open_now = list_alerts(pipeline.db, only_open=True, limit=None)
    assert [a["id"] for a in data.active_alerts] == [a["id"] for a in open_now] and open_now


def test_the_injected_spike_is_marked_on_the_revenue_and_volume_charts(data):
    channel, hour, _factor = SPIKE
    marked = {(a.metric, a.channel, a.hour) for a in data.anomalies}
    assert ("orders", channel, f"{hour:%Y-%m-%dT%H}") in marked
    assert ("revenue", channel, f"{hour:%Y-%m-%dT%H}") in marked
    rings = parsed(render(data)).rings
    assert {(r["data-series"], r["data-x"]) for r in rings["orders-by-channel"]} >= {(channel, f"{hour:%Y-%m-%d}")}
    assert {(r["data-series"], r["data-x"]) for r in rings["revenue-by-channel"]} >= {(channel, f"{hour:%Y-%m-%d}")}


# --------------------------------------------------------------------------- the page

def test_the_page_carries_the_numbers_it_was_given(data):
    marks = parsed(render(data)).marks
    assert series(marks["revenue-by-channel"]) == {ch: dict(p) for ch, p in data.revenue_by_channel.items()}
    assert series(marks["orders-by-channel"]) == {ch: {d: Decimal(n) for d, n in p}
                                                   for ch, p in data.orders_by_channel.items()}
    assert [(a["data-label"], Decimal(a["data-value"])) for a in marks["revenue-by-region"]] == data.revenue_by_region
    assert [Decimal(a["data-value"]) for a in marks["products-by-units"]] == [r["units"] for r in data.products_by_units.rows]
    assert [Decimal(a["data-value"]) for a in marks["products-by-revenue"]] == \
        [r["revenue"] for r in data.products_by_revenue.rows]
    assert [(a["data-label"], Decimal(a["data-value"])) for a in marks["inventory-turnover"]] == \
        [(r["product_id"], r["turnover"]) for r in data.top_turnover]
    assert [int(a["data-value"]) for a in marks["orders-per-customer"]] == [n for _, n in data.orders_per_customer]
    assert series(marks["quality-by-code"]) == {c: {d: Decimal(n) for d, n in p} for c, p in data.quality_by_code.items()}
    assert set(series(marks["pipeline-volume"])) == {"events", "valid", "quarantined", "duplicates", "late"}


def test_money_is_shown_with_two_decimals_and_the_currency(data):
    html = render(data)
    total = data.revenue.summary["revenue"]
    assert f"{total:,.2f} USD" in html
    assert "Daily revenue by channel (USD)" in html and "Revenue by region (USD)" in html


def test_the_page_needs_no_network(data):
    html = render(data)
    assert not re.search(r"https?:|//[a-z]", html, flags=re.IGNORECASE), "an absolute URL in the page"
    assert not re.search(r"<(link|img|iframe|object|embed)\b|\bsrc=|@import|url\(", html, flags=re.IGNORECASE)
    assert html.count("<script>") == 1  # the inline one; no <script src=...>


def test_the_same_data_gives_the_same_bytes(pipeline, data):
    assert render(gather(pipeline)) == render(data)


def test_writing_the_dashboard_reads_only(pipeline, tmp_path):
    def state():
        return (pipeline.db.execute("SELECT COUNT(*), MAX(id) FROM alert_deliveries").fetchone(),
                pipeline.db.execute("SELECT id, resolved_at, notified_at FROM alerts ORDER BY id").fetchall())

    before = state()
    out = pipeline.dashboard(tmp_path / "report.html")
    assert state() == before
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert out.start == "2024-01-15"


def test_a_date_range_limits_the_business_charts(pipeline, tmp_path):
    data = write_dashboard(pipeline, tmp_path / "r.html", start="2024-01-16", end="2024-01-17")
    assert [d for d, _ in data.revenue_by_channel["web"]] == ["2024-01-16", "2024-01-17"]
    report = pipeline.report("products", catch_up=False, start="2024-01-16", end="2024-01-17", by="units")
    assert data.products_by_units.rows == report.rows
    assert not any(a.day == "2024-01-18" for a in data.anomalies)


# --------------------------------------------------------------------------- the command

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastcommerce.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_the_command_writes_the_page_and_says_what_it_holds(replayed, tmp_path):
    out = tmp_path / "week.html"
    proc = cli("--db", str(replayed.db), "dashboard", "--out", str(out), "--from", "2024-01-16", "--format", "json",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["from"], summary["to"]) == ("2024-01-16", "2024-01-18")
    assert summary["anomalies"] == 2
    assert 'data-chart="revenue-by-channel"' in out.read_text()


def test_the_command_refuses_a_range_that_ends_before_it_starts(replayed, tmp_path):
    proc = cli("--db", str(replayed.db), "dashboard", "--out", str(tmp_path / "x.html"), "--from", "2024-01-18",
               "--to", "2024-01-16", cwd=tmp_path)
    assert proc.returncode == 2 and "after" in proc.stderr
    assert not (tmp_path / "x.html").exists()


def test_an_empty_database_gives_a_page_that_says_so(tmp_path):
    from fastcommerce.testing import make_test_pipeline

    with make_test_pipeline(path=tmp_path / "empty.db") as p:
        data = p.dashboard(tmp_path / "empty.html")
    html = (tmp_path / "empty.html").read_text()
    assert data.start is None and "no revenue yet" in html and "no data in this range" in html


# --------------------------------------------------------------------------- the charts

@given(st.floats(min_value=1e-3, max_value=1e12, allow_nan=False))
def test_an_axis_step_is_round_and_covers_the_peak_in_four_or_five_steps(top):
    step = nice_step(top)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))
    assert 1 <= math.ceil(top / step - 1e-9) <= 5


def test_a_chart_escapes_its_labels_and_marks_only_known_points():
    svg = line_chart({"<web>": [("2024-01-15", Decimal("1.50")), ("2024-01-16", Decimal("3.00"))]},
                     label="x", unit="USD", markers=[Marker(series="<web>", x="2024-01-16", note="a & b"),
                                                     Marker(series="web", x="2024-01-16", note="unknown series")])
    assert "<web>" not in svg and "&lt;web&gt;" in svg and "a &amp; b" in svg
    assert svg.count('class="anomaly"') == 1
    assert parsed(f'<figure data-chart="c">{svg}</figure>').marks["c"][1]["data-value"] == "3.00"
