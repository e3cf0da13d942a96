"""`fastcommerce report`'s dates, grouping and the reports issue 17 asked for (item 4 b, c, m),
on a small shop whose numbers are worked out by hand: five Wednesdays of web orders, one
mobile order on the last, a Tuesday order that is no Wednesday."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.cli_dates import resolve
from fastcommerce.testing import dumps

CATALOG = [
    {"product_id": "P1", "name": "Mug", "category": "home", "price": 10.00, "reorder_point": 5},
    {"product_id": "P2", "name": "Pen", "category": "office", "price": 5.00, "reorder_point": 1},
]
WEDNESDAYS = ["2024-01-03", "2024-01-10", "2024-01-17", "2024-01-24", "2024-01-31"]


def order(oid, day, *, channel="web", status="confirmed", pid="P1", price="10.00", state="CA"):
    return dumps({"order_id": oid, "customer_id": f"C-{oid}", "timestamp": f"{day}T10:00:00Z", "channel": channel,
                  "items": [{"product_id": pid, "quantity": 1, "unit_price": Decimal(price)}],
                  "shipping_address": {"country": "US", "state": state, "city": "X"}, "status": status})


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    db = tmp_path_factory.mktemp("weeks") / "shop.db"
    records = []
    for week, day in enumerate(WEDNESDAYS, start=1):  # week n: n web orders of 10.00
        records += [order(f"W{week}-{i}", day, state="CA" if i % 2 else "NY") for i in range(week)]
    records.append(order("M1", "2024-01-31", channel="mobile", pid="P2", price="5.00"))
    records.append(order("T1", "2024-01-30", price="1000.00"))  # a Tuesday: not "the usual" of a Wednesday
    records.append(order("X1", "2024-01-31", status="cancelled"))
    records.append(order("X2", "2024-01-31", status="pending"))
    with Pipeline(db, load_entrypoints=False) as p:
        p.ingest_records("catalog", CATALOG)
        p.ingest_records("orders", records)
        p.ingest_records("inventory", [
            {"product_id": "P1", "available_quantity": "3", "warehouse_location": "W1",
             "last_updated": "2024-01-03T06:00:00Z"},
            {"product_id": "P2", "available_quantity": "50", "warehouse_location": "W1",
             "last_updated": "2024-01-03T06:00:00Z"},
        ])
        p.project()
    return str(db)


def cli(db, *args):
    result = CliRunner().invoke(main, ["--db", db, "report", *map(str, args)])
    return result


def json_report(db, *args):
    result = cli(db, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- b: dates

def test_a_table_says_which_dates_it_covers_and_why(shop):
    text = cli(shop, "revenue").stdout
    assert text.splitlines()[0] == ("revenue report: dates: 2024-01-31 (no dates given: the report's default; "
                                    "--date, --days N, --from/--to, --last-week or --all-days choose others)")
    assert "dates: 2024-01-29 to 2024-01-31 (--days 3)" in cli(shop, "revenue", "--days", "3", "--to", "2024-01-31").stdout


def test_days_counts_back_from_to_or_forward_from_from(shop):
    back = json_report(shop, "revenue", "--days", "8", "--to", "2024-01-31")["summary"]
    assert (back["from"], back["to"]) == ("2024-01-24", "2024-01-31")
    assert back["revenue"] == 4 * 10 + 1000 + 5 * 10 + 5  # the 24th, the Tuesday, the 31st
    forward = json_report(shop, "revenue", "--from", "2024-01-03", "--days", "1")["summary"]
    assert (forward["from"], forward["to"], forward["revenue"]) == ("2024-01-03", "2024-01-03", 10)


def test_all_days_covers_every_date_where_revenue_alone_shows_the_latest(shop):
    latest = json_report(shop, "revenue")["summary"]
    every = json_report(shop, "revenue", "--all-days")["summary"]
    assert (latest["from"], latest["to"]) == ("2024-01-31", "2024-01-31")
    assert (every["from"], every["to"]) == ("2024-01-03", "2024-01-31")
    assert every["orders"] == 1 + 2 + 3 + 4 + 5 + 1 + 1


def test_relative_days_are_resolved_against_today():
    wednesday = date(2024, 1, 31)
    assert resolve(wednesday, on="yesterday").on == date(2024, 1, 30)
    assert resolve(wednesday, on="today").on == wednesday
    week = resolve(wednesday, last_week=True)
    assert (week.start, week.end) == (date(2024, 1, 22), date(2024, 1, 28))  # Monday to Sunday
    sunday = resolve(date(2024, 1, 28), last_week=True)
    assert (sunday.start, sunday.end) == (date(2024, 1, 15), date(2024, 1, 21))
    days = resolve(wednesday, days=7)
    assert (days.start, days.end) == (date(2024, 1, 24), date(2024, 1, 30))  # complete days, to yesterday


def test_yesterday_on_the_command_line_is_the_day_before_today_utc(shop):
    summary = json_report(shop, "revenue", "--date", "yesterday")["summary"]
    assert summary["from"] == summary["to"] == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize("args", [["--date", "2024-01-31", "--days", "3"], ["--all-days", "--from", "2024-01-03"],
                                  ["--last-week", "--to", "2024-01-31"], ["--from", "2024-01-03", "--to",
                                                                          "2024-01-31", "--days", "2"]])
def test_contradicting_date_options_are_refused(shop, args):
    result = cli(shop, "revenue", *args)
    assert result.exit_code == 2 and "give" in result.output


def test_a_word_that_is_no_date_is_refused_by_name(shop):
    result = cli(shop, "revenue", "--date", "tomorrowish")
    assert result.exit_code == 2 and "'tomorrowish' is not a date" in result.output
    with pytest.raises(click.UsageError, match="after"):
        resolve(date(2024, 1, 31), start=date(2024, 1, 5), end=date(2024, 1, 4))


# --------------------------------------------------------------------------- c: grouping and the usual

def test_revenue_by_channel_date_x_channel_and_date_x_region(shop):
    by_channel = json_report(shop, "revenue", "--all-days", "--by", "channel")
    assert by_channel["rows"] == [
        {"channel": "mobile", "orders": 1, "units": 1, "revenue": 5.0},
        {"channel": "web", "orders": 16, "units": 16, "revenue": 1150.0},
    ]
    assert by_channel["summary"]["by"] == "channel"
    per_day = json_report(shop, "revenue", "--from", "2024-01-30", "--by", "channel,date")["rows"]  # any order
    assert [(r["date"], r["channel"], r["orders"], r["revenue"]) for r in per_day] == [
        ("2024-01-30", "web", 1, 1000.0), ("2024-01-31", "mobile", 1, 5.0), ("2024-01-31", "web", 5, 50.0)]
    regions = json_report(shop, "revenue", "--date", "2024-01-31", "--by", "date,region")["rows"]
    # web: orders 1 and 3 to CA, 0, 2 and 4 to NY; mobile to CA
    assert [(r["region"], r["orders"], r["revenue"]) for r in regions] == [("US-CA", 3, 25.0), ("US-NY", 3, 30.0)]
    assert list(regions[0]) == ["date", "country", "region", "orders", "units", "revenue"]


def test_grouping_keeps_the_summary_and_the_full_rows_are_the_default(shop):
    full = json_report(shop, "revenue", "--all-days")
    grouped = json_report(shop, "revenue", "--all-days", "--by", "region")
    assert {k: v for k, v in grouped["summary"].items() if k != "by"} == full["summary"]
    assert sum(r["orders"] for r in grouped["rows"]) == sum(r["orders"] for r in full["rows"])
    assert json_report(shop, "revenue", "--all-days", "--by", "date,channel,region")["rows"] == full["rows"]


def test_by_is_checked_by_the_report_and_products_still_rank_by_it(shop):
    bad = cli(shop, "revenue", "--by", "units")
    assert bad.exit_code == 2 and "revenue groups by date, channel and/or region" in bad.output
    ranked = json_report(shop, "products", "--by", "revenue")
    assert ranked["summary"]["by"] == "revenue" and ranked["rows"][0]["product_id"] == "P1"
    assert json_report(shop, "products")["summary"]["by"] == "units"  # the default, as before


def test_the_usual_is_the_median_of_the_same_weekday(shop):
    data = json_report(shop, "usual")
    web = next(r for r in data["rows"] if r["channel"] == "web")
    # the four Wednesdays before the 31st: 1, 2, 3 and 4 orders of 10.00; the Tuesday is not one
    assert web["orders"] == 5 and web["usual_orders"] == 2.5 and web["weeks"] == 4
    assert web["revenue"] == 50.0 and web["usual_revenue"] == 25.0
    assert web["revenue_vs_usual"] == 1.0 and web["orders_vs_usual"] == 1.0
    mobile = next(r for r in data["rows"] if r["channel"] == "mobile")
    assert mobile["usual_orders"] == 0 and mobile["revenue_vs_usual"] is None  # nothing usual to compare with
    assert data["summary"]["weekday"] == "Wednesday"
    assert data["summary"]["compared_with"] == "2024-01-03, 2024-01-10, 2024-01-17, 2024-01-24"


def test_the_usual_counts_only_weeks_the_data_reaches(shop):
    early = json_report(shop, "usual", "--date", "2024-01-17")["rows"][0]
    assert (early["weeks"], early["usual_orders"], early["usual_revenue"]) == (2, 1.5, 15.0)
    first = json_report(shop, "usual", "--date", "2024-01-03")["rows"][0]
    assert first["weeks"] == 0 and first["usual_orders"] is None


def test_the_usual_table_shows_changes_as_percentages(shop):
    text = cli(shop, "usual").stdout
    web = next(line for line in text.splitlines() if " web " in line)
    assert "+100.00%" in web and "$25.00" in web and "$50.00" in web


# --------------------------------------------------------------------------- m: statuses, inventory

def test_statuses_count_how_each_order_ended(shop):
    data = json_report(shop, "statuses", "--all-days")
    counts = {r["status"]: r["orders"] for r in data["rows"]}
    assert counts == {"pending": 1, "confirmed": 17, "shipped": 0, "delivered": 0, "cancelled": 1, "refunded": 0}
    assert data["summary"]["orders"] == 19 and data["summary"]["revenue_bearing_orders"] == 17
    confirmed = next(r for r in data["rows"] if r["status"] == "confirmed")
    assert confirmed["revenue_bearing"] is True and confirmed["value"] == 1155.0
    assert confirmed["share"] == round(17 / 19, 4)
    assert "89.47%" in cli(shop, "statuses").stdout


def test_inventory_names_its_products_and_lists_only_the_low_ones(shop):
    every = json_report(shop, "inventory")
    assert [(r["product_id"], r["name"]) for r in every["rows"]] == [("P1", "Mug"), ("P2", "Pen")]
    low = json_report(shop, "inventory", "--low-stock")
    assert [r["product_id"] for r in low["rows"]] == ["P1"]  # 3 available, reorder point 5
    assert low["summary"] == every["summary"]  # the summary still counts every product
    refused = cli(shop, "revenue", "--low-stock")
    assert refused.exit_code == 2 and "--low-stock" in refused.output
