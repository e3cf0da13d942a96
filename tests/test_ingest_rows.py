"""A line parsed by the reader or left to ingest (``read_jsonl(..., parse=False)``) gives the
same log row: the one rule for what a line is, wherever it runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fastcommerce import Pipeline
from fastcommerce.ingest_rows import log_rows
from fastcommerce.sources import read_jsonl

LINES = [
    (b'{"order_id": "ORD-1", "customer_id": "C", "channel": "web", "status": "confirmed", '
     b'"timestamp": "2024-01-15T10:00:00Z", "items": []}'),
    b"", b"   ", b"[1, 2]", b'"text"', b"null", b"12", b"{broken", b"\xff\xfe{}", b'{"a": 1}',
    b'{"n": 123456789012345678901234567890}', b'{"s": "\\ud800"}', b"[" * 2000 + b"]" * 2000,
]


def _rows(pipeline: Pipeline, path, parse: bool) -> list[tuple]:
    items = [(r.line, r.raw, r.value, r.malformed, r.identity) for r in read_jsonl(path, parse=parse)]
    rows, _moments, _legacy = log_rows("orders", str(path), "2024-01-20T00:00:00.000000Z", items,
                                       pipeline.registry)
    return rows


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(LINES) | st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
                min_size=1, max_size=12))
def test_a_line_parsed_by_ingest_is_the_line_the_reader_would_have_parsed(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("rows") / "orders.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pipeline = Pipeline(tmp_path_factory.mktemp("db") / "log.db", load_entrypoints=False)
    try:
        assert _rows(pipeline, path, parse=False) == _rows(pipeline, path, parse=True)
    finally:
        pipeline.close()
