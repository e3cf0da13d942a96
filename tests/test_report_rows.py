"""What `fastcommerce report` shows of a report's rows: machine formats are never cut
silently; a table shows the report's default number of rows and says how many there are."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline
from fastcommerce.cli import main
from fastcommerce.reports.listing import default_limit
from fastcommerce.sample import write_sample


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    out = tmp_path_factory.mktemp("rows")
    write_sample(out / "data", orders=3000, days=2, seed=3)
    with Pipeline(out / "log.db", load_entrypoints=False) as p:
        p.run(out / "data")
        quarantined = p.report("quality", limit=None).summary["quarantined"]
    assert quarantined > 50  # the quality report's default, or nothing below is cut
    return str(out / "log.db"), quarantined


def _report(db, *args):
    run = CliRunner().invoke(main, ["--db", db, "report", "quality", *args])
    assert run.exit_code == 0, run.output
    return run.stdout


def test_json_and_csv_hold_every_row_unless_limited(db):
    path, quarantined = db
    data = json.loads(_report(path, "--format", "json"))
    assert len(data["rows"]) == data["summary"]["quarantined"] == quarantined
    rows = list(csv.DictReader(io.StringIO(_report(path, "--format", "csv"))))
    assert len(rows) == quarantined
    assert len(json.loads(_report(path, "--format", "json", "--limit", "7"))["rows"]) == 7


def test_a_table_says_how_many_it_shows(db):
    path, quarantined = db
    with Pipeline(path, load_entrypoints=False) as p:
        shown = default_limit(p.reports["quality"].function)  # the report's own default (50)
    assert shown is not None
    text = _report(path)
    assert text.rstrip().splitlines()[-1] == (
        f"showing {shown:,} of {quarantined:,} rows (--limit N for more, --all for every row)")
    every = _report(path, "--all")
    assert "showing" not in every and len(every) > len(text)
    # an explicit limit is what the user asked for: no note
    assert "showing" not in _report(path, "--limit", "5")


def test_all_and_limit_together_are_refused(db):
    run = CliRunner().invoke(main, ["--db", db[0], "report", "quality", "--all", "--limit", "3"])
    assert run.exit_code == 2 and "--all and --limit" in run.output


def test_default_limit_reads_the_report_signature():
    def top(source, *, limit: int | None = 10, **_):
        ...

    def everything(source, *, limit: int | None = None, **_):
        ...

    assert default_limit(top) == 10 and default_limit(everything) is None and default_limit(len) is None
