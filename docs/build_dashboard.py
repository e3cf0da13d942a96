"""Make docs/img/dashboard.png: the dashboard of the bundled sample data, in headless Chromium.

    python docs/build_dashboard.py                 # rewrite docs/img/dashboard.png
    python docs/build_dashboard.py --html out.html # keep the page too

The sample is replayed the way a daily batch deployment sees it (the files grow one day
at a time, `run` after each day with the clock at that day's end, then the alerts), so the
recorded-day charts (quality, pipeline volume) have a point per day. Needs a Chromium
binary (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2024, 1, 15, tzinfo=UTC)
DAYS = 3


def build(png: Path, html: Path | None) -> None:
    sys.path.insert(0, str(ROOT))
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))  # the alert log sink
    from fastcommerce import Pipeline
    from fastcommerce.dashboard.browser import find_chromium, screenshot
    from fastcommerce.sample import CATALOG_FILE, INVENTORY_FILE, ORDERS_FILE
    from fastcommerce.testing import feed_by_day

    binary = find_chromium()
    if binary is None:
        raise SystemExit("no chromium binary found: apt-get install -y chromium (or FASTCOMMERCE_CHROMIUM=PATH)")
    data = ROOT / "sample_data"
    sample = SimpleNamespace(catalog_path=data / CATALOG_FILE, inventory_path=data / INVENTORY_FILE,
                             orders_path=data / ORDERS_FILE)
    with tempfile.TemporaryDirectory() as tmp:
        clock = {"now": START}
        with Pipeline(Path(tmp) / "docs.db", load_entrypoints=False, clock=lambda: clock["now"]) as p:
            for _day, clock["now"] in feed_by_day(sample, DAYS, START, Path(tmp) / "live"):
                p.run(Path(tmp) / "live")
                p.alerts(now=clock["now"])
            page = Path(tmp) / "dashboard.html"
            p.dashboard(page)
        screenshot(binary, page, png, Path(tmp) / "profile")
        if html is not None:
            html.write_bytes(page.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--html", type=Path, help="also keep the HTML page here")
    args = parser.parse_args()
    build(args.out, args.html)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
