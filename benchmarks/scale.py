#!/usr/bin/env python
"""``fastcommerce run`` end to end at growing sizes, as whole processes, against two
baselines measured in the same run.

For each size N (orders of ``fastcommerce sample --orders N --days D --seed S``), every
step below is a separate process, started by this script and timed by wall clock; its
CPU time and peak RSS come from ``os.wait4`` on that process alone:

1. ``fastcommerce --db run.db run DATA_DIR`` on a fresh database (ingest of the catalog,
   the inventory and the orders, then every projection caught up).
2. ``fastcommerce --db run.db rebuild`` on the result: every built-in projection dropped
   and replayed from the canonical rows. Events/s = log records / seconds.
3. Catch-up. A fresh database gets the catalog, the inventory and the first 90% of the
   order lines (``ingest``, then ``project``); the last 10% are ingested as a second file,
   and ``project`` alone is timed. Events/s = records that second ingest appended / seconds.
4. Ingest alone: a fresh database with the catalog and the inventory ingested first, then
   ``ingest orders`` of the whole order file, timed.
5. Baseline (a), the cost of storage alone: this script again (``--_baseline-a``), a plain
   ``sqlite3`` ``executemany`` of the same order lines into a table ``("offset" INTEGER
   PRIMARY KEY, content_hash BLOB, raw BLOB, UNIQUE (content_hash))``, the hash being the
   line's SHA-256, ``INSERT OR IGNORE``, 10,000 rows per ``BEGIN IMMEDIATE ... COMMIT``,
   with the pragmas ``EventLog.open`` sets (WAL, ``synchronous=NORMAL``,
   ``cache_size=-32768``, ``wal_autocheckpoint=10000``, a 5 s busy timeout). The baseline
   has no background checkpoint thread: its WAL is copied back inline at 10,000 pages.
6. Baseline (b): this script again (``--_duckdb``), DuckDB with 2 threads reading the same
   catalog and order files and computing the daily revenue table (date, channel, country,
   region, orders, units, revenue) in one SQL query, by the data contract's rules (see
   ``DUCKDB_QUERY``). Its table must equal ``sales_daily_revenue`` of ``run.db``.

Database size is ``run.db`` plus its ``-wal`` after step 1, against the three input files.
Only the CLI (``run``, ``ingest``, ``project``, ``rebuild``, ``status``, ``plugins``,
``sample``) and the table ``sales_daily_revenue`` are used, never the library's internals.
Installed entry-point plugins (those ``fastcommerce plugins`` lists as ``installed``) are
blocked with ``--block``, so only the built-ins run.

Generated data is cached in ``--workdir``, keyed by (orders, days, seed), and reused.

    python benchmarks/scale.py --quick                         # 5,000 and 20,000 orders: a smoke test
    python benchmarks/scale.py --sizes 100000                  # about 5 minutes on 2 cores
    python benchmarks/scale.py                                 # 100k, 400k and 1M orders (an hour or more)
    python benchmarks/scale.py --sizes 100000 --json > scale.json   # the text goes to stderr

Exit status 1 if DuckDB's table differs from ours or the baseline stored a different number
of rows than fastcommerce appended; the performance targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import code_version  # benchmarks/ is on sys.path

INPUT_FILES = ("product_catalog.json", "inventory_updates.csv", "orders_stream.jsonl")
BATCH = 10_000
CATCHUP_FROM = 0.9
MB = 1024 * 1024

TARGETS = {
    "rebuild_eps": 200_000,  # events/s, rebuild of every built-in projection
    "catchup_eps": 100_000,  # events/s, project after an ingest of 10% more
    "ingest_ratio": 0.5,  # ingest records/s over baseline (a)'s
    "run_vs_duckdb": 3.0,  # at 1M orders: aim 2x, at most 3x
    "run_1m_s": 90.0,  # 1M orders through run
    "db_ratio": 2.5,  # database size over input size
    "peak_rss_mb": 200.0,  # every fastcommerce step
}
TARGET_AT = 1_000_000  # the two targets stated at 1M orders


# --------------------------------------------------------------------------- processes


class StepFailed(RuntimeError):
    pass


def timed(name: str, cmd: list[str], logs: Path, *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd`` as a process of its own; wall seconds, CPU seconds and peak RSS of that
    process (``os.wait4``), its standard output parsed as JSON when it is JSON."""
    out_path, err_path = logs / f"{name}.out", logs / f"{name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace")[-2000:]
        raise StepFailed(f"{name}: exit status {proc.returncode}: {' '.join(cmd)}\n{tail}")
    text = out_path.read_text(errors="replace")
    try:
        output = json.loads(text)
    except ValueError:
        output = None
    return {"step": name, "seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "output": output}


class Cli:
    """``python -m fastcommerce.cli`` with the installed entry-point plugins blocked."""

    def __init__(self, python: str, workdir: Path) -> None:
        self.python, self.workdir = python, workdir
        env = dict(os.environ)
        for var in ("FASTCOMMERCE_DB", "FASTCOMMERCE_LOAD_PLUGINS"):  # only what the command line says
            env.pop(var, None)
        self.env = env
        self.blocked: list[str] = []
        self.blocked = self.installed_plugins()
        left = self.installed_plugins()
        if left:
            raise SystemExit(f"could not block the entry-point plugins {left}")

    def base(self, db: Path | None = None) -> list[str]:
        cmd = [self.python, "-m", "fastcommerce.cli"]
        for name in self.blocked:
            cmd += ["--block", name]
        if db is not None:
            cmd += ["--db", str(db)]
        return cmd

    def installed_plugins(self) -> list[str]:
        out = subprocess.run([*self.base(), "plugins"], capture_output=True, text=True, check=True,
                             cwd=self.workdir, env=self.env).stdout
        names = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "installed":
                names.append(parts[0])
        return names

    def package(self) -> str:
        return subprocess.run([self.python, "-c", "import fastcommerce; print(fastcommerce.__file__)"],
                              capture_output=True, text=True, check=True, env=self.env).stdout.strip()

    def step(self, name: str, db: Path | None, args: list[str], logs: Path) -> dict[str, Any]:
        return timed(name, [*self.base(db), *args], logs, cwd=self.workdir, env=self.env)


# --------------------------------------------------------------------------- data


def count_lines(path: Path) -> int:
    """Lines as the contract counts them: the newline that ends the file starts none."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(MB):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def ensure_data(cli: Cli, workdir: Path, orders: int, days: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The sample for (orders, days, seed), generated once into the cache; plus its split
    for the catch-up step (the first 90% of the order lines, the rest)."""
    out = workdir / "data" / f"orders{orders}-days{days}-seed{seed}"
    meta_path = out / "meta.json"
    if meta_path.exists():
        return out, json.loads(meta_path.read_text())
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"  generating {orders:,} orders over {days} days (seed {seed}) into {out} ...")
    gen = timed("sample", [*cli.base(), "sample", "--orders", str(orders), "--days", str(days),
                           "--seed", str(seed), "--out", str(tmp), "--format", "json"],
                tmp, cwd=workdir, env=cli.env)
    lines = count_lines(tmp / "orders_stream.jsonl")
    head_n = int(lines * CATCHUP_FROM)
    split = tmp / "split"
    split.mkdir()
    with open(tmp / "orders_stream.jsonl", "rb") as src, open(split / "orders_head.jsonl", "wb") as head, \
            open(split / "orders_tail.jsonl", "wb") as tail:
        for n, line in enumerate(src):
            (head if n < head_n else tail).write(line)
    meta = {"orders": orders, "days": days, "seed": seed, "order_lines": lines, "head_lines": head_n,
            "tail_lines": lines - head_n, "generate_s": gen["seconds"], "sample": gen["output"],
            "input_bytes": {name: (tmp / name).stat().st_size for name in INPUT_FILES}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out, meta


# --------------------------------------------------------------------------- baseline (a)


def baseline_a(path: str, db: str) -> None:
    """Store every line of ``path`` with its SHA-256 as a UNIQUE key, as fastcommerce's log
    does, and nothing else; prints the counts as JSON."""
    conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32768")
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    conn.execute('CREATE TABLE log ("offset" INTEGER PRIMARY KEY, content_hash BLOB NOT NULL, raw BLOB NOT NULL, '
                 "UNIQUE (content_hash))")
    sql = "INSERT OR IGNORE INTO log (content_hash, raw) VALUES (?, ?)"
    sha256 = hashlib.sha256
    lines = 0
    rows: list[tuple[bytes, bytes]] = []
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                line = line[:-1]
            rows.append((sha256(line).digest(), line))
            if len(rows) == BATCH:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
                lines += len(rows)
                rows = []
    if rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        lines += len(rows)
    stored = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
    conn.close()
    print(json.dumps({"lines": lines, "rows": stored, "sqlite": sqlite3.sqlite_version}))


# --------------------------------------------------------------------------- baseline (b)

# The data contract's rules in DuckDB SQL (contract sections 1, 4 to 6; the built-in
# upcasters and validators). What it leaves out, because the generated data never has it:
# a catalog loaded in several versions (the catalog here is read once, as loading it first
# does), and values of a type that the upcasters and cattrs would convert (an order_id that
# is a number, a non-object address) -- those are simply not valid here.
DUCKDB_MACROS = r"""
CREATE OR REPLACE TEMP MACRO is_int(t) AS t IN ('UBIGINT', 'BIGINT');
CREATE OR REPLACE TEMP MACRO is_num(t) AS t IN ('UBIGINT', 'BIGINT', 'DOUBLE');
-- missing_field: absent, null or a blank string
CREATE OR REPLACE TEMP MACRO filled(j, path) AS
    coalesce(json_type(j, path), 'NULL') <> 'NULL'
    AND NOT (json_type(j, path) = 'VARCHAR' AND trim(json_extract_string(j, path)) = '');
CREATE OR REPLACE TEMP MACRO text_ok(j, path) AS
    json_type(j, path) = 'VARCHAR' AND trim(json_extract_string(j, path)) <> '';
-- an exact amount: a JSON number, or (where an upcaster converts one) a plain decimal string
CREATE OR REPLACE TEMP MACRO amount(j, path, allow_text) AS CASE
    WHEN is_num(json_type(j, path)) THEN TRY_CAST(json_extract_string(j, path) AS DECIMAL(38, 10))
    WHEN allow_text AND json_type(j, path) = 'VARCHAR'
         AND regexp_full_match(trim(json_extract_string(j, path)), '[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)')
        THEN TRY_CAST(trim(json_extract_string(j, path)) AS DECIMAL(38, 10))
    END;
-- invalid_item: a price not negative, at most 2 decimals judged on the value, bounded
CREATE OR REPLACE TEMP MACRO price_ok(d) AS d IS NOT NULL AND d >= 0 AND d <= 10000000 AND d = round(d, 2);
"""

DUCKDB_QUERY = r"""
WITH
catalog_doc AS (SELECT json AS doc FROM read_json_objects($catalog, format = 'unstructured')),
catalog_entries AS (
    SELECT unnest(CASE WHEN json_type(doc) = 'ARRAY' THEN json_extract(doc, '$[*]')
                       ELSE json_extract(doc, '$.products[*]') END) AS p
    FROM catalog_doc
),
products AS (  -- the valid catalog products: unknown_product is checked against these
    SELECT list(DISTINCT json_extract_string(p, '$.product_id')) AS known FROM catalog_entries
    WHERE json_type(p) = 'OBJECT'
      AND filled(p, '$.product_id') AND filled(p, '$.name') AND filled(p, '$.category') AND filled(p, '$.price')
      AND price_ok(amount(p, '$.price', false))
      AND (json_type(p, '$.reorder_point') IS NULL
           OR (is_int(json_type(p, '$.reorder_point'))
               AND TRY_CAST(json_extract_string(p, '$.reorder_point') AS HUGEINT) >= 0))
      AND (json_type(p, '$.active') IS NULL OR json_type(p, '$.active') = 'BOOLEAN')
),
objects AS (
    -- malformed_record: with ignore_errors a line that is not JSON is NULL (blank lines are
    -- skipped); DuckDB's parser accepts a trailing comma, which the contract's does not.
    -- The text of each object is its line as written: the raw record, for the tie-break.
    SELECT json AS raw FROM read_json_objects($orders, format = 'newline_delimited', ignore_errors = true)
    WHERE json_type(json) = 'OBJECT' AND NOT regexp_matches(json, ',\s*[}\]]')
),
detected AS (  -- the variant (contract section 1); NULL: unknown_schema
    SELECT raw, CASE
        WHEN json_type(raw, '$.schema_version') IS NOT NULL THEN CASE
            WHEN NOT is_int(json_type(raw, '$.schema_version')) THEN NULL
            WHEN json_extract_string(raw, '$.schema_version') = '2'
                 AND json_type(raw, '$.channel') IS NOT NULL THEN 'web'
            WHEN json_extract_string(raw, '$.schema_version') = '3' THEN 'api'
            END
        WHEN json_type(raw, '$.channel') IS NOT NULL THEN CASE
            WHEN json_type(raw, '$.channel') = 'VARCHAR' AND json_extract_string(raw, '$.channel') = 'mobile'
                 AND json_type(raw, '$.customerId') IS NOT NULL THEN 'mobile'
            ELSE 'web' END
        ELSE 'legacy' END AS variant
    FROM objects
),
canonical AS (  -- the upcasters, field by field
    SELECT raw, variant,
        json_extract_string(raw, '$.order_id') AS order_id,
        text_ok(raw, '$.order_id') AS order_id_ok,
        CASE WHEN variant = 'mobile' AND json_type(raw, '$.customer_id') IS NULL
             THEN text_ok(raw, '$.customerId') ELSE text_ok(raw, '$.customer_id') END AS customer_ok,
        CASE variant WHEN 'legacy' THEN 'web' WHEN 'mobile' THEN 'mobile'
             WHEN 'api' THEN coalesce(json_extract_string(raw, '$.channel'), 'api')
             ELSE json_extract_string(raw, '$.channel') END AS channel,
        variant IN ('legacy', 'mobile') OR json_type(raw, '$.channel') = 'VARCHAR'
             OR (variant = 'api' AND json_type(raw, '$.channel') IS NULL) AS channel_ok,
        trim(json_extract_string(raw, '$.timestamp')) AS ts_text,
        json_type(raw, '$.timestamp') = 'VARCHAR' AS ts_is_text,
        lower(trim(json_extract_string(raw, '$.status'))) AS status,
        json_type(raw, '$.status') = 'VARCHAR' AS status_ok,
        CASE WHEN variant = 'legacy' AND json_type(raw, '$.shipping_address') IS NULL THEN raw
             ELSE json_extract(raw, '$.shipping_address') END AS address,
        json_type(raw, '$.items') = 'ARRAY' AS items_ok,
        json_extract(raw, '$.items[*]') AS items,
        json_type(raw, '$.order_total') AS total_type,
        amount(raw, '$.order_total', true) AS total
    FROM detected WHERE variant IS NOT NULL
),
lines AS (
    SELECT *,
        list_transform(items, lambda it: {
            'ok': json_type(it) = 'OBJECT' AND text_ok(it, '$.product_id')
                  AND is_int(json_type(it, '$.quantity'))
                  AND TRY_CAST(json_extract_string(it, '$.quantity') AS BIGINT) BETWEEN 1 AND 1000000,
            'product_id': json_extract_string(it, '$.product_id'),
            'quantity': TRY_CAST(json_extract_string(it, '$.quantity') AS BIGINT),
            'price': CASE variant
                WHEN 'web' THEN amount(it, '$.unit_price', false)
                WHEN 'legacy' THEN CASE WHEN json_type(it, '$.unit_price') IS NOT NULL
                                        THEN amount(it, '$.unit_price', false) ELSE amount(it, '$.price', false) END
                WHEN 'mobile' THEN amount(it, '$.unit_price', true)
                ELSE CASE WHEN json_type(it, '$.price') = 'OBJECT' THEN amount(it, '$.price.amount', true)
                          WHEN coalesce(json_type(it, '$.price'), 'NULL') <> 'NULL'
                               AND json_type(it, '$.unit_price') IS NULL THEN amount(it, '$.price', false)
                          ELSE amount(it, '$.unit_price', false) END
                END,
            'currency': CASE WHEN variant = 'api' AND json_type(it, '$.price') = 'OBJECT'
                                  AND json_type(it, '$.price.currency') IS NOT NULL
                             THEN json_extract(it, '$.price.currency') ELSE json_extract(it, '$.currency') END
        }) AS parsed
    FROM canonical
),
events AS (  -- the validators' error codes; warnings do not matter here
    SELECT raw, order_id, channel, status,
        TRY_CAST(ts_text AS TIMESTAMPTZ) AS ts,
        CASE WHEN json_type(address, '$.country') = 'VARCHAR'
             THEN upper(trim(json_extract_string(address, '$.country'))) ELSE '' END AS country,
        CASE WHEN json_type(address, '$.state') = 'VARCHAR'
             THEN trim(json_extract_string(address, '$.state')) ELSE '' END AS state,
        list_sum(list_transform(parsed, lambda l: l.quantity)) AS units,
        list_sum(list_transform(parsed, lambda l: l.quantity * CAST(l.price * 100 AS BIGINT))) AS cents,
        order_id_ok AND customer_ok AND channel_ok AND status_ok
        AND status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled', 'refunded')
        -- invalid_timestamp: ISO-8601 with T and Z or +HH:MM, at most one day after recording
        AND ts_is_text
        AND regexp_full_match(ts_text,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?(Z|[+-][0-9]{2}:[0-9]{2})')
        AND TRY_CAST(ts_text AS TIMESTAMPTZ) IS NOT NULL
        AND TRY_CAST(ts_text AS TIMESTAMPTZ) <= now() + INTERVAL 1 DAY
        AND items_ok AND len(parsed) > 0
        AND list_bool_and(list_transform(parsed, lambda l:
                l.ok AND price_ok(l.price) AND list_contains(known, l.product_id)
                AND (l.currency IS NULL OR (json_type(l.currency) = 'VARCHAR'
                                            AND upper(trim(json_extract_string(l.currency, '$'))) = 'USD'))))
        AS valid,
        total_type, total
    FROM lines, products
),
valid AS (
    SELECT *, CASE WHEN country = '' THEN '' WHEN state = '' THEN country ELSE country || '-' || state END AS region,
        list_position(['pending', 'confirmed', 'shipped', 'delivered', 'cancelled', 'refunded'], status) AS rank
    FROM events
    -- total_mismatch: strict, a difference of exactly 0.01 passes
    WHERE valid AND (total_type IS NULL OR (total IS NOT NULL AND abs(total * 100 - cents) <= 1))
),
orders AS (  -- the order state (contract section 5): greatest timestamp, then status, then raw bytes
    SELECT order_id, min(ts) AS placed,
        arg_max({'status': status, 'channel': channel, 'country': country, 'region': region,
                 'units': units, 'cents': cents},
                {'ts': ts, 'rank': rank, 'raw': raw}) AS win
    FROM valid GROUP BY order_id
)
SELECT strftime(placed, '%Y-%m-%d') AS date, win.channel AS channel, win.country AS country,
       win.region AS region, count(*) AS orders, sum(win.units)::BIGINT AS units,
       sum(win.cents)::BIGINT AS revenue_cents
FROM orders WHERE win.status IN ('confirmed', 'shipped', 'delivered')
GROUP BY ALL ORDER BY ALL
"""


def baseline_b(data_dir: str, out: str) -> None:
    """The daily revenue table by DuckDB, written to ``out`` as JSON; prints timings."""
    start = time.perf_counter()
    import duckdb

    imported = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")  # a TIMESTAMPTZ's date is its UTC date
    con.execute(DUCKDB_MACROS)
    d = Path(data_dir)
    rows = con.execute(DUCKDB_QUERY, {"catalog": str(d / "product_catalog.json"),
                                      "orders": str(d / "orders_stream.jsonl")}).fetchall()
    done = time.perf_counter()
    Path(out).write_text(json.dumps([list(r) for r in rows]))
    print(json.dumps({"rows": len(rows), "import_s": imported - start, "query_s": done - imported,
                      "duckdb": duckdb.__version__}))


REVENUE_SQL = ("SELECT date, channel, country, region, orders, units, revenue_cents FROM sales_daily_revenue "
               "ORDER BY date, channel, country, region")


def compare_revenue(ours: list[tuple], theirs: list[tuple]) -> dict[str, Any]:
    def totals(rows):
        return {"rows": len(rows), "orders": sum(r[4] for r in rows), "units": sum(r[5] for r in rows),
                "revenue_cents": sum(r[6] for r in rows)}

    mine = {r[:4]: r[4:] for r in ours}
    other = {r[:4]: r[4:] for r in theirs}
    differ = [{"key": list(k), "ours": list(mine.get(k) or ()), "duckdb": list(other.get(k) or ())}
              for k in sorted(set(mine) | set(other)) if mine.get(k) != other.get(k)]
    return {"equal": not differ, "ours": totals(ours), "duckdb": totals(theirs),
            "rows_matching": sum(1 for k, v in mine.items() if other.get(k) == v),
            "rows_differing": len(differ), "first_differences": differ[:10]}


# --------------------------------------------------------------------------- one size


def db_bytes(db: Path) -> dict[str, int]:
    wal = Path(f"{db}-wal")
    return {"file": db.stat().st_size, "wal": wal.stat().st_size if wal.exists() else 0}


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def source_totals(output: Any, stream: str) -> dict[str, int]:
    sums = {"read": 0, "appended": 0, "duplicates": 0}
    for s in output["sources"]:
        if s["stream"] == stream:
            for k in sums:
                sums[k] += s[k]
    return sums


def measure(cli: Cli, args: argparse.Namespace, orders: int) -> dict[str, Any]:
    data, meta = ensure_data(cli, args.workdir, orders, args.days, args.seed)
    work = args.workdir / f"run-{orders}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = {name: data / name for name in INPUT_FILES}
    catalog, inventory, order_file = (str(files[n]) for n in INPUT_FILES)
    steps: dict[str, dict[str, Any]] = {}

    def step(name: str, db: Path | None, cmd_args: list[str]) -> dict[str, Any]:
        log(f"  {name} ...")
        result = cli.step(name, db, cmd_args, work)
        steps[name] = result
        log(f"    {result['seconds']:8.2f} s  {result['peak_rss_mb']:6.1f} MB peak RSS")
        return result

    # 1-2: run end to end, then rebuild
    run_db = work / "run.db"
    step("run", run_db, ["run", "--format", "json", str(data)])
    size = db_bytes(run_db)
    status = cli.step("status", run_db, ["status", "--format", "json"], work)["output"]
    records = status["records"]
    with sqlite3.connect(f"file:{run_db}?mode=ro", uri=True) as conn:
        ours = [tuple(r) for r in conn.execute(REVENUE_SQL)]
    step("rebuild", run_db, ["rebuild", "--format", "json"])
    size_after_rebuild = db_bytes(run_db)

    # 3: catch-up after an ingest of the last 10% of the order lines
    cu_db = work / "catchup.db"
    step("catchup_ingest_catalog", cu_db, ["ingest", "--format", "json", "catalog", catalog])
    step("catchup_ingest_inventory", cu_db, ["ingest", "--format", "json", "inventory", inventory])
    step("catchup_ingest_head", cu_db, ["ingest", "--format", "json", "orders", str(data / "split" / "orders_head.jsonl")])
    step("catchup_project_head", cu_db, ["project", "--format", "json"])
    tail = step("catchup_ingest_tail", cu_db,
                ["ingest", "--format", "json", "orders", str(data / "split" / "orders_tail.jsonl")])
    new_records = source_totals(tail["output"], "orders")["appended"]
    catchup = step("catchup_project", cu_db, ["project", "--format", "json"])
    remove_db(cu_db)

    # 4: ingest of the order file alone, after the catalog and the inventory
    ing_db = work / "ingest.db"
    step("ingest_catalog", ing_db, ["ingest", "--format", "json", "catalog", catalog])
    step("ingest_inventory", ing_db, ["ingest", "--format", "json", "inventory", inventory])
    ingest = step("ingest_orders", ing_db, ["ingest", "--format", "json", "orders", order_file])
    ingested = source_totals(ingest["output"], "orders")
    remove_db(ing_db)

    # 5: baseline (a)
    base_db = work / "baseline_a.db"
    log("  baseline_a ...")
    base = timed("baseline_a", [args.python, __file__, "--_baseline-a", order_file, str(base_db)], work,
                 cwd=args.workdir, env=cli.env)
    log(f"    {base['seconds']:8.2f} s  {base['peak_rss_mb']:6.1f} MB peak RSS")
    base_size = db_bytes(base_db)
    remove_db(base_db)

    # 6: baseline (b)
    duck: dict[str, Any] | None = None
    check: dict[str, Any] | None = None
    if not args.no_duckdb:
        log("  duckdb ...")
        table = work / "duckdb_revenue.json"
        duck = timed("duckdb", [args.python, __file__, "--_duckdb", str(data), str(table)], work,
                     cwd=args.workdir, env=cli.env)
        log(f"    {duck['seconds']:8.2f} s  {duck['peak_rss_mb']:6.1f} MB peak RSS")
        theirs = [tuple(r) for r in json.loads(table.read_text())]
        check = compare_revenue(ours, theirs)
        log(f"    revenue table: {'equal' if check['equal'] else 'DIFFERENT'} "
            f"({check['ours']['rows']} rows ours, {check['duckdb']['rows']} DuckDB's)")

    if not args.keep:
        remove_db(run_db)
    input_bytes = sum(meta["input_bytes"].values())
    fc_steps = list(steps.values())
    result = {
        "orders": orders, "order_lines": meta["order_lines"], "log_records": records,
        "input_bytes": meta["input_bytes"], "generate_s": meta["generate_s"],
        "steps": {name: {k: v for k, v in s.items() if k != "output"} for name, s in steps.items()},
        "run_s": steps["run"]["seconds"],
        "rebuild_s": steps["rebuild"]["seconds"],
        "rebuild_eps": records / steps["rebuild"]["seconds"],
        "catchup_records": new_records,
        "catchup_s": catchup["seconds"],
        "catchup_eps": new_records / catchup["seconds"],
        "ingest": {"seconds": ingest["seconds"], "cpu_s": ingest["cpu_s"], **ingested,
                   "records_per_s": ingested["read"] / ingest["seconds"]},
        "baseline_a": {"seconds": base["seconds"], "cpu_s": base["cpu_s"], "peak_rss_mb": base["peak_rss_mb"],
                       **base["output"], "db_bytes": base_size,
                       "records_per_s": base["output"]["lines"] / base["seconds"]},
        "ingest_ratio": base["seconds"] / ingest["seconds"],
        "ingest_cpu_ratio": base["cpu_s"] / ingest["cpu_s"],
        "rows_agree": base["output"]["rows"] == ingested["appended"],
        "db_bytes": size, "db_bytes_after_rebuild": size_after_rebuild,
        "db_ratio": (size["file"] + size["wal"]) / input_bytes,
        "peak_rss_mb": max(s["peak_rss_mb"] for s in fc_steps),
        "peak_rss_step": max(fc_steps, key=lambda s: s["peak_rss_mb"])["step"],
    }
    if duck is not None:
        result["duckdb"] = {"seconds": duck["seconds"], "cpu_s": duck["cpu_s"], "peak_rss_mb": duck["peak_rss_mb"],
                            **duck["output"]}
        result["run_vs_duckdb"] = steps["run"]["seconds"] / duck["seconds"]
        result["revenue_check"] = check
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "FAIL")


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    at_1m = [r for r in results if r["orders"] >= TARGET_AT]
    out = []

    def every(name: str, key: str, test, fmt: str) -> None:
        values = [(r["orders"], r.get(key)) for r in results if r.get(key) is not None]
        ok = all(test(v) for _, v in values) if values else None
        out.append({"target": name, "ok": ok, "values": {str(n): v for n, v in values},
                    "text": ", ".join(f"{n:,}: {format(v, fmt)}" for n, v in values)})

    every(f"rebuild >= {TARGETS['rebuild_eps']:,} events/s", "rebuild_eps", lambda v: v >= TARGETS["rebuild_eps"], ",.0f")
    every(f"catch-up >= {TARGETS['catchup_eps']:,} events/s", "catchup_eps", lambda v: v >= TARGETS["catchup_eps"], ",.0f")
    every(f"ingest >= {TARGETS['ingest_ratio']}x baseline (a)", "ingest_ratio",
          lambda v: v >= TARGETS["ingest_ratio"], ".2f")
    every(f"database <= {TARGETS['db_ratio']}x input", "db_ratio", lambda v: v <= TARGETS["db_ratio"], ".3f")
    every(f"peak RSS < {TARGETS['peak_rss_mb']:.0f} MB (every fastcommerce step)", "peak_rss_mb",
          lambda v: v < TARGETS["peak_rss_mb"], ".1f")
    for name, key, limit, fmt in (
        (f"run within {TARGETS['run_vs_duckdb']:.0f}x DuckDB (aim 2x) at 1M orders", "run_vs_duckdb",
         TARGETS["run_vs_duckdb"], ".2f"),
        (f"1M orders through run in <= {TARGETS['run_1m_s']:.0f} s", "run_s", TARGETS["run_1m_s"], ".1f"),
    ):
        values = [(r["orders"], r.get(key)) for r in at_1m if r.get(key) is not None]
        ok = all(v <= limit for _, v in values) if values else None
        text = ", ".join(f"{n:,}: {format(v, fmt)}" for n, v in values)
        if not values:
            text = "not measured (no size >= 1,000,000); at the sizes run: " + ", ".join(
                f"{r['orders']:,}: {format(r[key], fmt)}" for r in results if r.get(key) is not None)
        out.append({"target": name, "ok": ok, "values": {str(n): v for n, v in values}, "text": text})
    checks = [r["revenue_check"]["equal"] for r in results if "revenue_check" in r]
    out.append({"target": "DuckDB's daily revenue table equals ours", "ok": all(checks) if checks else None,
                "values": {str(r["orders"]): r["revenue_check"]["equal"] for r in results if "revenue_check" in r},
                "text": ", ".join(f"{r['orders']:,}: {'equal' if r['revenue_check']['equal'] else 'different'}"
                                  for r in results if "revenue_check" in r)})
    return out


def render(report: dict[str, Any]) -> str:
    lines = [
        (f"fastcommerce {report['fastcommerce']['path']} (commit {report['fastcommerce']['commit']}"
         f"{', modified' if report['fastcommerce']['dirty'] else ''}); {report['machine']}"),
        (f"blocked entry-point plugins: {', '.join(report['blocked']) or '(none installed)'}; "
         f"CLI start-up (--version): {report['cli_startup_s']:.2f} s; days {report['days']}, seed {report['seed']}"),
        "",
        "growth curve (each figure a whole process, wall clock):",
    ]
    head = ("orders", "lines", "log recs", "run s", "rebuild ev/s", "catch-up ev/s", "ingest s", "base(a) s",
            "ingest/a", "duckdb s", "run/duckdb", "db/input", "peak RSS MB")
    rows = []
    for r in report["results"]:
        rows.append((f"{r['orders']:,}", f"{r['order_lines']:,}", f"{r['log_records']:,}", f"{r['run_s']:.1f}",
                     f"{r['rebuild_eps']:,.0f}", f"{r['catchup_eps']:,.0f}", f"{r['ingest']['seconds']:.1f}",
                     f"{r['baseline_a']['seconds']:.1f}", f"{r['ingest_ratio']:.2f}x",
                     f"{r['duckdb']['seconds']:.1f}" if "duckdb" in r else "-",
                     f"{r['run_vs_duckdb']:.2f}x" if "run_vs_duckdb" in r else "-",
                     f"{r['db_ratio']:.2f}x", f"{r['peak_rss_mb']:.1f}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    for r in report["results"]:
        lines += ["", (f"{r['orders']:,} orders: {r['order_lines']:,} order lines, {r['log_records']:,} log records, "
                       f"input {sum(r['input_bytes'].values()) / MB:,.1f} MB (generated in {r['generate_s']:.1f} s, cached)")]
        for name, s in r["steps"].items():
            lines.append(f"  {name:<26} {s['seconds']:8.2f} s wall {s['cpu_s']:8.2f} s CPU {s['peak_rss_mb']:7.1f} MB")
        b = r["baseline_a"]
        lines.append(f"  {'baseline_a':<26} {b['seconds']:8.2f} s wall {b['cpu_s']:8.2f} s CPU {b['peak_rss_mb']:7.1f} MB"
                     f"  ({b['rows']:,} rows of {b['lines']:,} lines; fastcommerce appended {r['ingest']['appended']:,}: "
                     f"{'same' if r['rows_agree'] else 'DIFFERENT'})")
        if "duckdb" in r:
            d = r["duckdb"]
            lines.append(f"  {'duckdb':<26} {d['seconds']:8.2f} s wall {d['cpu_s']:8.2f} s CPU {d['peak_rss_mb']:7.1f} MB"
                         f"  (query {d['query_s']:.2f} s, import {d['import_s']:.2f} s)")
        lines.append(f"  ingest: {r['ingest']['records_per_s']:,.0f} lines/s vs baseline {b['records_per_s']:,.0f}: "
                     f"{r['ingest_ratio']:.2f}x wall, {r['ingest_cpu_ratio']:.2f}x CPU")
        lines.append(f"  catch-up: {r['catchup_records']:,} new records in {r['catchup_s']:.2f} s; "
                     f"rebuild: {r['log_records']:,} records in {r['rebuild_s']:.2f} s")
        size = r["db_bytes"]
        lines.append(f"  database after run: {size['file'] / MB:,.1f} MB + {size['wal'] / MB:,.1f} MB WAL "
                     f"= {r['db_ratio']:.3f}x the input; after rebuild "
                     f"{(r['db_bytes_after_rebuild']['file'] + r['db_bytes_after_rebuild']['wal']) / MB:,.1f} MB")
        c = r.get("revenue_check")
        if c is not None:
            o, d = c["ours"], c["duckdb"]
            lines.append(f"  revenue table vs DuckDB: {'EQUAL' if c['equal'] else 'DIFFERENT'}: rows {o['rows']} / {d['rows']}, "
                         f"orders {o['orders']:,} / {d['orders']:,}, units {o['units']:,} / {d['units']:,}, "
                         f"revenue {o['revenue_cents'] / 100:,.2f} / {d['revenue_cents'] / 100:,.2f} "
                         f"({c['rows_matching']} rows match)")
            for diff in c["first_differences"]:
                lines.append(f"    {diff['key']}: ours {diff['ours'] or '(none)'}, DuckDB {diff['duckdb'] or '(none)'}")
    lines += ["", "targets:"]
    for t in report["targets"]:
        lines.append(f"  [{verdict(t['ok']):>4}] {t['target']}: {t['text']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,400000,1000000", help="orders per size, comma-separated")
    p.add_argument("--quick", action="store_true", help="sizes 5000,20000: a smoke test")
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/fc-scale"),
                   help="generated data (kept, reused) and the databases (removed after each size)")
    p.add_argument("--python", default=sys.executable, help="interpreter for fastcommerce and the baselines")
    p.add_argument("--keep", action="store_true", help="keep the databases and step logs")
    p.add_argument("--no-duckdb", action="store_true", help="skip baseline (b)")
    p.add_argument("--json", action="store_true", help="JSON on stdout (the text goes to stderr)")
    p.add_argument("--_baseline-a", nargs=2, metavar=("FILE", "DB"), dest="baseline_a", help=argparse.SUPPRESS)
    p.add_argument("--_duckdb", nargs=2, metavar=("DIR", "OUT"), dest="duckdb", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.baseline_a:
        baseline_a(*args.baseline_a)
        return 0
    if args.duckdb:
        baseline_b(*args.duckdb)
        return 0

    sizes = [5000, 20000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if (args.workdir / "fastcommerce.toml").exists():
        raise SystemExit(f"{args.workdir}/fastcommerce.toml would configure the runs: remove it")
    cli = Cli(args.python, args.workdir)
    package = cli.package()
    version = code_version(package)
    startup = timed("cli_version", [*cli.base(), "--version"], args.workdir, cwd=args.workdir, env=cli.env)
    machine = (f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
               f"load average {os.getloadavg()[0]:.2f} at start")
    log(f"fastcommerce from {package}; blocked plugins: {', '.join(cli.blocked) or '(none)'}")
    results = []
    for n in sizes:
        log(f"{n:,} orders:")
        results.append(measure(cli, args, n))
    report = {"fastcommerce": version, "machine": machine, "load_average_end": os.getloadavg()[0],
              "blocked": cli.blocked, "cli_startup_s": startup["seconds"], "days": args.days, "seed": args.seed,
              "sizes": sizes, "targets_spec": TARGETS, "results": results}
    report["targets"] = targets(results)
    text = render(report)
    if args.json:
        log(text)
        print(json.dumps(report, indent=2, default=str))
    else:
        print(text)
    bad = [r for r in results if not r["rows_agree"] or not r.get("revenue_check", {"equal": True})["equal"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
