"""``fastcommerce export parquet DIR``: the canonical tables as Parquet, one partition a day.

For a warehouse, Spark or DuckDB: each canonical table (docs/canonical-schema.md) becomes a
directory of Hive-style day partitions, ``DIR/canon_orders/day=2024-01-15/part-0.parquet``.
A row's day is the UTC date of its record's event time (``canon_records.event_time``: an
order's timestamp, an inventory reading's ``last_updated``); a record without one (a catalog
version, a malformed line) is in ``day=__HIVE_DEFAULT_PARTITION__``, which readers take as
a null day. Columns and values are those of the canonical tables, unchanged (cents as
integers, times as the log's fixed-width UTC text).

Incremental: ``export_state`` (in the database) remembers, per directory, the last log
offset exported and the decoders the rows were derived by. The next export rewrites only
the days that records appended since then fall on: new days, and old days that a late
event restated. A partition is always rewritten whole (its rows are read again), written
to a temporary name and renamed into place, so a reader sees the old file or the new one.
The state commits after the files are in place: a crash in between only means those days
are written again next time. Everything is exported again when the state cannot be
trusted: the first export to a directory, a directory whose marker file
(``_fastcommerce_export.json``) is missing or another export's, or canonical rows derived
again by other decoders since (a plugin changed).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from . import canonical
from .errors import FastCommerceError
from .eventlog import EventLog, format_time
from .schema import EXPORT_STATE

DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The day of rows whose record has no event time (Hive's name for a null partition value)."""
MARKER = "_fastcommerce_export.json"
FORMAT = "parquet"

_R = canonical.RECORDS
# table -> its columns as (name, arrow type, nullable), in the canonical table's order; the
# key columns a partition's rows are sorted by
COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    canonical.RECORDS: (("offset", "int64", False), ("stream", "string", False), ("decoder", "int64", False),
                        ("quarantined", "int64", False), ("event_time", "string", True),
                        ("recorded_date", "string", False), ("latency_s", "int64", True)),
    canonical.PROBLEMS: (("offset", "int64", False), ("n", "int64", False), ("code", "string", False),
                         ("severity", "string", False), ("reason", "string", False), ("validator", "string", False)),
    canonical.ORDERS: (("offset", "int64", False), ("order_id", "string", False), ("customer_id", "string", False),
                       ("channel", "string", False), ("status", "string", False), ("status_rank", "int64", False),
                       ("ts", "string", False), ("country", "string", False), ("region", "string", False),
                       ("units", "int64", False), ("value_cents", "int64", False)),
    canonical.LINES: (("offset", "int64", False), ("line_no", "int64", False), ("product_id", "string", False),
                      ("quantity", "int64", False), ("unit_price_cents", "int64", False)),
    canonical.INVENTORY: (("offset", "int64", False), ("product_id", "string", False), ("warehouse", "string", False),
                          ("last_updated", "string", False), ("quantity", "int64", False)),
    canonical.CATALOG: (("offset", "int64", False), ("product_id", "string", False), ("name", "string", False),
                        ("category", "string", False), ("price", "string", False), ("cost", "string", True),
                        ("reorder_point", "int64", False), ("active", "int64", False), ("metadata", "string", False)),
}
KEYS = {canonical.PROBLEMS: ("offset", "n"), canonical.LINES: ("offset", "line_no")}


class ExportError(FastCommerceError):
    """An export that cannot run (pyarrow missing, a directory that cannot be written)."""


@attrs.define(kw_only=True)
class ExportSummary:
    """What one export wrote: every day partition of every table, or only ``days``."""

    target: str
    full: bool
    reason: str  # why everything was written, or "incremental"
    days: list[str]
    files: int = 0
    rows: dict[str, int] = attrs.field(factory=dict)
    upto_offset: int = 0

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise ExportError("pyarrow is not installed: pip install 'fastcommerce[parquet]'") from None
    return pa, pq


def _day(alias: str) -> str:
    return f"COALESCE(substr({alias}.event_time, 1, 10), '{DEFAULT_PARTITION}')"


def _select(table: str, where: str) -> str:
    """Rows of ``table`` with their day, up to an offset (``?``), ``where`` more, by day
    then key. Every table's day is its record's (``canon_records``, alias ``r``)."""
    cols = ", ".join(f't."{c}"' for c, _t, _n in COLUMNS[table])
    keys = ", ".join(f't."{k}"' for k in KEYS.get(table, ("offset",)))
    source = f"{_R} t" if table == _R else f'{table} t JOIN {_R} r ON r."offset" = t."offset"'
    day = _day("t" if table == _R else "r")
    return f'SELECT {day} AS day, {cols} FROM {source} WHERE t."offset" <= ? {where} ORDER BY day, {keys}'


def _touched_days(conn: Any, table: str, after: int, upto: int) -> list[str]:
    """The days of ``table``'s rows with offsets in ``(after, upto]``: its partitions to write."""
    source = f"{_R} t" if table == _R else f'{table} t JOIN {_R} r ON r."offset" = t."offset"'
    day = _day("t" if table == _R else "r")
    return [r[0] for r in conn.execute(f'SELECT DISTINCT {day} FROM {source} WHERE t."offset" > ? AND t."offset" <= ? '
                                       "ORDER BY 1", [after, upto])]


def _decoders(conn: Any) -> str:
    """Which decoders the rows were derived by (a re-derivation by others changes it)."""
    rows = conn.execute(f"SELECT DISTINCT stream, decoder FROM {_R} ORDER BY stream, decoder").fetchall()
    return json.dumps(rows)


def _partitions(conn: Any, table: str, upto: int, days: list[str] | None) -> Iterator[tuple[str, list[tuple]]]:
    """``(day, rows)`` of ``table`` for ``days`` (None: every day), in day order."""
    params: list[Any] = [upto]
    where = ""
    if days is not None:
        if not days:
            return
        where = f"AND {_day('t' if table == _R else 'r')} IN ({', '.join('?' * len(days))})"
        params += days
    sql = _select(table, where)
    day: str | None = None
    rows: list[tuple] = []
    for row in conn.execute(sql, params):
        if row[0] != day:
            if day is not None:
                yield day, rows
            day, rows = row[0], []
        rows.append(row[1:])
    if day is not None:
        yield day, rows


def export_parquet(log: EventLog, target: str | Path, *, full: bool = False, clock: Callable[[], datetime],
                   compression: str = "zstd") -> ExportSummary:
    """Write the canonical tables under ``target`` (see the module's documentation)."""
    pa, pq = _pyarrow()
    target = Path(target).resolve()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{target}: cannot create the export directory: {exc.strerror or exc}") from exc
    conn = log.conn
    state = conn.execute(f"SELECT export_id, upto_offset, decoders FROM {EXPORT_STATE} WHERE target = ? AND format = ?",
                         [str(target), FORMAT]).fetchone()
    conn.execute("BEGIN")  # one snapshot (WAL): the rows, the last offset and the decoders agree
    try:
        upto = conn.execute(f'SELECT COALESCE(MAX("offset"), 0) FROM {_R}').fetchone()[0]
        decoders = _decoders(conn)
        reason = _why_full(target, state, decoders) if not full else "asked for (--full)"
        touched: dict[str, list[str]] | None = None  # table -> the days its new rows fall on
        if reason is None:
            touched = {table: _touched_days(conn, table, state[1], upto) for table in COLUMNS}
        days = None if touched is None else sorted({d for ds in touched.values() for d in ds})
        summary = ExportSummary(target=str(target), full=days is None, reason=reason or "incremental",
                                days=days or [], upto_offset=upto)
        written: dict[str, set[str]] = {}
        for table, columns in COLUMNS.items():
            schema = pa.schema([pa.field(c, getattr(pa, t)(), nullable=n) for c, t, n in columns])
            written[table] = set()
            count = 0
            for day, rows in _partitions(conn, table, upto, None if touched is None else touched[table]):
                data = pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(zip(*rows, strict=True),
                                                                                          schema, strict=True)],
                                            schema=schema)
                _write(pq, data, target / table / f"day={day}", compression)
                written[table].add(day)
                count += len(rows)
                summary.files += 1
            summary.rows[table] = count
            if days is None:
                summary.days = sorted(set(summary.days) | written[table])
    finally:
        conn.execute("COMMIT")
    if days is None:
        _remove_stale(target, written)
    export_id = state[0] if state is not None and reason is None else uuid.uuid4().hex
    _write_marker(target, export_id, upto)
    with log.transaction():
        conn.execute(f"INSERT INTO {EXPORT_STATE} (target, format, export_id, upto_offset, decoders, exported_at) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, format) DO UPDATE SET "
                     "export_id = excluded.export_id, upto_offset = excluded.upto_offset, "
                     "decoders = excluded.decoders, exported_at = excluded.exported_at",
                     [str(target), FORMAT, export_id, upto, decoders, format_time(clock())])
    return summary


def _why_full(target: Path, state: tuple | None, decoders: str) -> str | None:
    """Why every partition must be written, or ``None``: only the days touched since."""
    if state is None:
        return "first export to this directory"
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return f"no readable {MARKER} in the directory"
    if marker.get("export_id") != state[0]:
        return f"the directory's {MARKER} is another export's"
    if decoders != state[2]:
        return "canonical rows derived again by other decoders since (a plugin changed)"
    return None


def _write(pq: Any, data: Any, partition: Path, compression: str) -> None:
    partition.mkdir(parents=True, exist_ok=True)
    final = partition / "part-0.parquet"
    temporary = partition / f".part-0.parquet.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(data, temporary, compression=compression)
        os.replace(temporary, final)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportError(f"{final}: cannot write: {exc.strerror or exc}") from exc


def _remove_stale(target: Path, written: dict[str, set[str]]) -> None:
    """After a full export: day partitions no row falls on any more (rows derived again
    differently) are removed, so the directory holds exactly the canonical rows."""
    for table, days in written.items():
        root = target / table
        if not root.is_dir():
            continue
        for child in root.iterdir():
            if child.is_dir() and child.name.startswith("day=") and child.name[4:] not in days:
                shutil.rmtree(child)


def _write_marker(target: Path, export_id: str, upto: int) -> None:
    temporary = target / f".{MARKER}.tmp"
    temporary.write_text(json.dumps({"export_id": export_id, "upto_offset": upto, "format": FORMAT}))
    os.replace(temporary, target / MARKER)
