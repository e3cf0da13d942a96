"""How ``log-made-by-5cedc8d.db.gz`` and its ``reports.json.gz`` were made, with the code of
5cedc8d (the last version whose runner and alert engine made their own tables on open)::

    git archive 5cedc8d fastcommerce | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base python tests/data/make_log_5cedc8d.py /tmp/out
    gzip -9 -c /tmp/out/old.db > tests/data/log-made-by-5cedc8d.db.gz
    gzip -9 -n -c /tmp/out/reports.json > tests/data/log-made-by-5cedc8d.reports.json.gz
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import fastcommerce
from fastcommerce import Pipeline
from fastcommerce.reports.formatting import render
from fastcommerce.sample import write_sample

CLOCK = datetime(2024, 1, 17, 12, 0, tzinfo=UTC)
REPORTS = (("revenue", {"start": "2024-01-15", "end": "2024-01-16"}), ("products", {"limit": None}),
           ("inventory", {}), ("customers", {"limit": None}), ("quality", {"limit": None}))


def main(out: Path) -> None:
    print("fastcommerce from", fastcommerce.__file__, file=sys.stderr)
    out.mkdir()
    write_sample(out / "sample", orders=120, days=2, seed=11, products=15)
    with Pipeline(out / "old.db", load_entrypoints=False, clock=lambda: CLOCK) as p:
        p.run(out / "sample")
        print("alerts raised", len(p.alerts(now=CLOCK).raised), file=sys.stderr)
        reports = {name: render(p.report(name, **options), "json") for name, options in REPORTS}
        p.log.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        p.log.conn.execute("VACUUM")
    (out / "reports.json").write_text(json.dumps(reports, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
