"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``), a fresh
profile, no network. Every chart has drawn marks, the page logged no error, and a
screenshot is saved. Skipped when no browser is installed, unless
``FASTCOMMERCE_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets), where that is a failure."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from dashboard_replay import open_replayed, replay

from fastcommerce.dashboard.browser import dump_dom, find_chromium, screenshot

CHARTS = {"revenue-by-channel", "orders-by-channel", "revenue-by-region", "products-by-units",
          "products-by-revenue", "inventory-turnover", "orders-per-customer", "quality-by-code", "pipeline-volume"}


BINARY = find_chromium()
MISSING = "no chromium binary found (apt-get install -y chromium, or FASTCOMMERCE_CHROMIUM=PATH)"
REQUIRED = os.environ.get("FASTCOMMERCE_REQUIRE_BROWSER") == "1"
if BINARY is None and not REQUIRED:
    pytest.skip(MISSING, allow_module_level=True)  # one line for the whole module


@pytest.fixture(scope="module")
def chromium() -> str:
    if BINARY is None:  # required: each test fails, the rest of the suite still runs
        pytest.fail(MISSING + "; FASTCOMMERCE_REQUIRE_BROWSER=1 makes that a failure")
    return BINARY


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    with open_replayed(replay(tmp)) as p:
        p.dashboard(tmp / "report.html")
    return tmp / "report.html"


class Rendered(HTMLParser):
    """The body's data attributes (written by the page's script) and each chart's."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.charts: dict[str, dict[str, str]] = {}
        self.rings = 0

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        if tag == "figure" and "data-chart" in a:
            self.charts[a["data-chart"]] = a
        if "anomaly" in a.get("class", "").split():
            self.rings += 1


def rendered(dom: str) -> Rendered:
    r = Rendered()
    r.feed(dom)
    return r


def test_every_chart_renders_without_an_error(chromium, page, tmp_path):
    dom, log = dump_dom(chromium, page, tmp_path / "profile")
    r = rendered(dom)
    assert r.body.get("data-ready") == "1", "the page's script did not run"
    assert r.body.get("data-errors") == "0", r.body.get("data-error-text")
    assert not re.search(r"Uncaught|ERR_NAME_NOT_RESOLVED|Failed to load resource", log), log[-2000:]
    assert set(r.charts) == CHARTS
    assert r.body["data-charts"] == r.body["data-drawn"] == str(len(CHARTS))
    for name, chart in r.charts.items():
        assert int(chart.get("data-marks", "0")) > 0, f"{name} drew nothing"
    assert r.rings >= 2  # the spike, on the revenue and the volume chart


def test_the_check_sees_a_script_error(chromium, page, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("</main>", "<script>null.boom()</script></main>"))
    dom, _log = dump_dom(chromium, broken, tmp_path / "profile")
    r = rendered(dom)
    assert r.body.get("data-errors") == "1" and "null" in r.body.get("data-error-text", "")


def test_a_screenshot_of_the_page(chromium, page, tmp_path):
    png = screenshot(chromium, page, tmp_path / "dashboard.png", tmp_path / "profile")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000  # charts and text, not a blank page
