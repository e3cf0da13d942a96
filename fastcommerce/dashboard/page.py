"""The dashboard as one HTML file: styles, charts (inline SVG) and a few lines of script
inline, so it opens from disk with no network.

The script draws nothing (the SVG is complete without it); it records script errors and
whether each chart has a drawn mark into ``<body data-...>``, which is what the browser
test reads back from the rendered page.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

from .. import display
from .data import DashboardData
from .svg import PALETTE, Marker, bar_chart, line_chart, plain

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f2d3d;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px} header p{margin:0;color:#c9d3dd;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px;padding:16px 24px}
section,figure{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:0;padding:12px 14px}
h2{font-size:15px;margin:0 0 4px} figcaption p,section>p{margin:0 0 8px;color:#555;font-size:12px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;padding:16px 24px 0}
.tile{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px;min-width:130px}
.tile b{display:block;font-size:18px} .tile span{color:#555;font-size:12px}
table{border-collapse:collapse;font-size:12px;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right} figure svg{max-width:100%;height:auto} .critical{color:#b00020;font-weight:600} .warning{color:#a55a00}
"""

SCRIPT = """
(function(){
  var errors=[];
  window.addEventListener('error',function(e){errors.push(String(e.message||e))});
  var original=console.error;
  console.error=function(){errors.push(Array.prototype.join.call(arguments,' '));return original.apply(console,arguments)};
  document.addEventListener('DOMContentLoaded',function(){
    var drawn=0,charts=document.querySelectorAll('figure.chart');
    charts.forEach(function(f){
      var svg=f.querySelector('svg'),marks=svg?svg.querySelectorAll('.mark'):[],shown=0;
      marks.forEach(function(m){var b=m.getBBox();if(b.width>0&&b.height>0){shown++}});
      f.dataset.marks=shown;
      if(shown>0){drawn++}
    });
    document.body.dataset.charts=charts.length;
    document.body.dataset.drawn=drawn;
    report();
  });
  function report(){document.body.dataset.errors=errors.length;document.body.dataset.errorText=errors.join(' | ');
    document.body.dataset.ready='1'}
  window.addEventListener('load',report);
})();
"""


def money(value: Decimal) -> str:
    """Money for people: two decimals (half-even) with thousands separators (the page says
    the currency once), as :mod:`fastcommerce.display` writes it everywhere."""
    return display.money(value, symbol=False)


def _figure(chart_id: str, title: str, definition: str, svg: str) -> str:
    return (f'<figure class="chart" data-chart="{chart_id}"><figcaption><h2>{escape(title)}</h2>'
            f'<p>{escape(definition)}</p></figcaption>{svg}</figure>')


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool], *,
           table_id: str, empty: str = "none") -> str:
    if not rows:
        return f'<p class="none" data-table="{table_id}">{escape(empty)}</p>'
    head = "".join(f'<th class="{"n" if n else ""}">{escape(h)}</th>' for h, n in zip(headers, numeric))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if n else ""}">{escape("" if v is None else str(v))}</td>'
                                    for v, n in zip(row, numeric)) + "</tr>" for row in rows)
    return f'<table data-table="{table_id}"><tr>{head}</tr>{body}</table>'


def _tiles(d: DashboardData) -> str:
    s, c = d.revenue.summary, d.customers.summary
    rate, share = c.get("repeat_customer_rate"), c.get("top_10pct_revenue_share")
    items = [
        (f"{money(s['revenue'])} {d.currency}", "revenue (revenue-bearing orders)"),
        (plain(s["orders"]), "orders"), (plain(s["units"]), "units"),
        (plain(c["customers"]), "customers"),
        (display.ratio(rate, places=1), "repeat customers (2+ orders)"),
        (display.ratio(share, places=1), "revenue share of the top 10% customers"),
        (plain(d.operations.summary["quarantined"]), "records quarantined"),
        (plain(len(d.active_alerts)), "active alerts"),
    ]
    return '<div class="tiles">' + "".join(f'<div class="tile"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                                           for v, k in items) + "</div>"


def _markers(d: DashboardData, metric: str) -> list[Marker]:
    return [Marker(series=a.channel, x=a.day, note=f"{a.rule} at {a.hour}:00 UTC: {a.message}")
            for a in d.anomalies if a.metric == metric]


def _charts(d: DashboardData) -> list[str]:
    cur = d.currency
    anomaly_note = (" Red rings: spikes and drops the volume alert rule recorded (one hour of one channel "
                    "against the same hour on previous days), on the day they happened.")
    products_def = ("Top {n} products over the range by {by}; units = quantity sold, revenue = quantity x unit "
                    "price, of revenue-bearing orders. Same as `fastcommerce report products --by {by}`.")
    out = [
        _figure("revenue-by-channel", f"Daily revenue by channel ({cur})",
                "Sum of quantity x unit price of revenue-bearing orders (confirmed, shipped, delivered) by "
                f"order date (UTC) and channel, in {cur}." + anomaly_note,
                line_chart(d.revenue_by_channel, label="daily revenue by channel", unit=cur, show=money,
                           markers=_markers(d, "revenue"))),
        _figure("orders-by-channel", "Daily order volume by channel (orders)",
                "Revenue-bearing orders by order date (UTC) and channel, a count." + anomaly_note,
                line_chart(d.orders_by_channel, label="daily orders by channel", unit="orders",
                           markers=_markers(d, "orders"))),
        _figure("revenue-by-region", f"Revenue by region ({cur})",
                f"Revenue over the range per region (country-state, or the country alone), in {cur}; the "
                f"{len(d.revenue_by_region)} largest of {d.regions} regions.",
                bar_chart(d.revenue_by_region, label="revenue by region", unit=cur, show=money)),
        _figure("products-by-units", "Top products by units (units)",
                products_def.format(n=len(d.products_by_units.rows), by="units"),
                bar_chart([(_product(r), r["units"]) for r in d.products_by_units.rows],
                          label="top products by units", unit="units", colour=PALETTE[2])),
        _figure("products-by-revenue", f"Top products by revenue ({cur})",
                products_def.format(n=len(d.products_by_revenue.rows), by="revenue"),
                bar_chart([(_product(r), r["revenue"]) for r in d.products_by_revenue.rows],
                          label="top products by revenue", unit=cur, show=money, colour=PALETTE[1])),
        _figure("inventory-turnover", "Inventory turnover (times in the period)",
                "Units sold in the range / average daily closing stock (the sum over warehouses of each "
                f"one's latest level before midnight UTC); the {len(d.top_turnover)} highest.",
                bar_chart([(r["product_id"], r["turnover"]) for r in d.top_turnover],
                          label="inventory turnover", unit="x", colour=PALETTE[4])),
        _figure("orders-per-customer", "Customers by number of orders (customers)",
                "Customers with revenue-bearing orders in the range, by how many they placed; "
                f"{plain(d.customers.summary['customers'])} customers.",
                bar_chart(d.orders_per_customer, label="customers by number of orders", unit="customers",
                          colour=PALETTE[5])),
        _figure("quality-by-code", "Quality problems by code over time (records)",
                "Per day the records were recorded (UTC): the records carrying each contract code (errors "
                "quarantine a record; warnings counted on valid records), as `fastcommerce report quality "
                "--date D` counts them.",
                line_chart(d.quality_by_code, label="quality problems by code", unit="records")),
        _figure("pipeline-volume", "Records recorded per day (records)",
                "Per day the records were recorded (UTC): events, valid, quarantined, duplicates dropped at "
                "ingest and late events, as `fastcommerce report operations` counts them.",
                line_chart({k: [(r["date"], r[k]) for r in d.operations.rows]
                            for k in ("events", "valid", "quarantined", "duplicates", "late")},
                           label="records recorded per day", unit="records")),
    ]
    return out


def _when(stamp: str | None) -> str | None:
    """A recorded time to the minute, for a table cell (the page says times are UTC)."""
    return None if stamp is None else stamp[:16].replace("T", " ")


def _product(row: dict[str, Any]) -> str:
    return f"{row['product_id']} {row['name'] or ''}".strip()[:26]


def _sections(d: DashboardData) -> list[str]:
    low = _table(["product", "available", "reorder point", "days of cover", "avg units/day"],
                 [(_product(r), plain(r["available"]), plain(r["reorder_point"]), r["days_of_cover"],
                   r["avg_daily_units"]) for r in d.low_stock],
                 [False, True, True, True, True], table_id="low-stock", empty="no product is low on stock")
    alerts = _table(["severity", "rule", "key", "raised (UTC)", "message"],
                    [(a["severity"], a["rule"], a["key"], _when(a["raised_at"]), a["message"]) for a in d.active_alerts],
                    [False] * 5, table_id="active-alerts", empty="no active alerts")
    anomalies = _table(["hour (UTC)", "channel", "rule", "message"],
                       [(a.hour, a.channel, a.rule, a.message) for a in d.anomalies],
                       [False] * 4, table_id="anomalies", empty="no volume anomaly recorded in this range")
    u = d.usual
    usual = _table(["channel", "orders", "usual orders", "orders vs usual", f"revenue ({d.currency})",
                    f"usual revenue ({d.currency})", "revenue vs usual", "weeks"],
                   [(r["channel"], plain(r["orders"]), display.number(r["usual_orders"], places=1),
                     display.ratio(r["orders_vs_usual"], places=1, signed=True), money(r["revenue"]),
                     display.MISSING if r["usual_revenue"] is None else money(r["usual_revenue"]),
                     display.ratio(r["revenue_vs_usual"], places=1, signed=True), plain(r["weeks"])) for r in u.rows],
                   [False] + [True] * 7, table_id="usual", empty="no revenue yet")
    h = d.health
    sources = _table(["source", "records", "rejected at ingest", "quarantined", "newest event (UTC)", "last ingest (UTC)"],
                     [(name, plain(s.get("records", 0)), plain(s.get("rejected_at_ingest", 0)),
                       plain(s.get("quarantined", 0)), _when(s.get("newest_event")),
                       _when((s.get("last_ingest") or {}).get("finished_at"))) for name, s in h["sources"].items()],
                     [False, True, True, True, False, False], table_id="sources")
    projections = _table(["projection", "offset", "lag (events)", "last catch-up (s)"],
                         [(name, plain(p["offset"]), plain(p["lag"]), (p.get("last_catch_up") or {}).get("seconds"))
                          for name, p in h["projections"].items()],
                         [False, True, True, True], table_id="projections")
    return [
        (f'<section data-section="usual"><h2>{escape(str(u.summary.get("date") or "The last day"))} against '
         f'the usual</h2><p>The range\'s last day, per channel: revenue-bearing orders and revenue against the '
         f'median of the same weekday ({escape(str(u.summary.get("weekday") or "-"))}) over the previous '
         f'weeks the data reaches ({escape(str(u.summary.get("compared_with") or "none yet"))}); as '
         f'`fastcommerce report usual --date D`.</p>{usual}</section>'),
        (f'<section data-section="low-stock"><h2>Low stock ({plain(len(d.low_stock))} products)</h2>'
        "<p>Available (sum over warehouses) at or below the reorder point; days of cover = available / "
        f"average daily units sold in the range.</p>{low}</section>"),
        (f'<section data-section="alerts"><h2>Active alerts ({plain(len(d.active_alerts))})</h2>'
        "<p>Open conditions recorded by the last alert evaluation (`fastcommerce run` or `fastcommerce alerts --evaluate`); "
        f"the dashboard reads them and notifies no one.</p>{alerts}"
        f"<h2>Volume anomalies ({plain(len(d.anomalies))})</h2><p>Marked on the revenue and volume charts.</p>"
        f"{anomalies}</section>"),
        (f'<section data-section="health"><h2>Pipeline health</h2><p>Per source and projection, at '
        f"{escape(h['at'])}; log offset {plain(h['log']['last_offset'])}.</p>{sources}{projections}</section>"),
    ]


def render(d: DashboardData) -> str:
    """The whole page; the same data gives the same bytes."""
    span = f"{d.start} to {d.end}" if d.start else "no revenue yet"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>fastcommerce dashboard {escape(span)}</title><style>{STYLE}</style>"
        f"<script>{SCRIPT}</script></head><body>"
        f"<header><h1>fastcommerce dashboard</h1><p>Order dates {escape(span)} (UTC); money in {d.currency}; "
        f"generated {escape(d.generated_at)}</p></header>"
        + _tiles(d) + "<main>" + "".join(_charts(d)) + "".join(_sections(d)) + "</main></body></html>\n"
    )
