"""Compressed input files are read as the bytes they hold (issue 17, item 4l): gzip, bz2
and xz from the standard library, zstd with the ``zstd`` extra; known by their magic bytes,
checkpointed by uncompressed position; ``--follow`` refuses them."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
import time

import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline, SourceError
from fastcommerce.cli import main
from fastcommerce.source_files import compression

CATALOG = {"products": [{"product_id": f"PROD-{n:03}", "name": "x", "category": "c", "price": 10} for n in range(5)]}


def order(n: int, rng: random.Random) -> bytes:
    return json.dumps({
        "order_id": f"ORD-{n}-{rng.randrange(10**9)}", "customer_id": f"CUST-{rng.randrange(10**6)}",
        "timestamp": "2024-01-15T10:30:00Z", "channel": "web",
        "items": [{"product_id": f"PROD-{rng.randrange(5):03}", "quantity": rng.randrange(1, 9), "unit_price": 10}],
        "shipping_address": {"country": "US", "state": "CA", "city": "San Francisco"}, "status": "confirmed",
    }).encode()


def order_file(count: int = 1000, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return b"".join(order(n, rng) + b"\n" for n in range(count))


def zstd_compress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard", reason="zstd needs the zstandard package (the zstd extra)")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "zstd": zstd_compress}


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    p = Pipeline(tmp_path / "shop.db", load_entrypoints=False)
    p.ingest("catalog", tmp_path / "catalog.json")
    yield p
    p.close()


def logged(p: Pipeline, source: str) -> list[tuple]:
    return p.db.execute("SELECT line, raw, rejected FROM event_log WHERE stream = 'orders' AND source = ? "
                        'ORDER BY "offset"', [source]).fetchall()


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_a_compressed_order_file_reads_as_the_plain_one(shop, tmp_path, kind):
    data = order_file()
    plain, packed = tmp_path / "plain.jsonl", tmp_path / f"orders.jsonl.{kind}"
    plain.write_bytes(data)
    packed.write_bytes(COMPRESSORS[kind](data))
    assert compression(packed) == kind and compression(plain) is None
    [s] = shop.ingest("orders", packed).sources
    assert (s.read, s.appended, s.malformed, s.valid) == (1000, 1000, 0, 1000)
    rows = logged(shop, str(packed))
    assert [r[0] for r in rows] == list(range(1, 1001)) and b"".join(r[1] + b"\n" for r in rows) == data
    [again] = shop.ingest("orders", plain).sources
    assert (again.read, again.duplicates, again.appended) == (1000, 1000, 0)  # the same records, byte for byte


def test_known_by_magic_bytes_not_by_name(shop, tmp_path):
    data = order_file(50)
    disguised, honest = tmp_path / "orders.jsonl", tmp_path / "plain.gz"
    disguised.write_bytes(gzip.compress(data))
    honest.write_bytes(data)
    assert shop.ingest("orders", disguised).sources[0].appended == 50
    assert shop.ingest("orders", honest).sources[0].duplicates == 50


def test_checkpointed_by_uncompressed_position(shop, tmp_path):
    data = order_file(1000)
    first = b"".join(data.splitlines(keepends=True)[:600])
    path = tmp_path / "orders.jsonl.gz"
    path.write_bytes(gzip.compress(first))
    shop.ingest("orders", path)
    [cp] = [c for c in shop.status()["checkpoints"] if c["stream"] == "orders"]
    assert (cp["line"], cp["byte_offset"]) == (600, len(first))  # positions in what the file holds
    path.write_bytes(gzip.compress(data))  # the same stream, grown and compressed again
    [s] = shop.ingest("orders", path).sources
    assert (s.skipped, s.read, s.appended, s.duplicates) == (600, 400, 400, 0)
    other = tmp_path / "other.jsonl.gz"  # another file: read from the start
    other.write_bytes(gzip.compress(order_file(1000, seed=2)))
    path.write_bytes(other.read_bytes())
    [s] = shop.ingest("orders", path).sources
    assert (s.skipped, s.appended) == (0, 1000)


def test_inventory_csv_and_catalog_compressed(tmp_path):
    csv = (b"product_id,available_quantity,warehouse_location,last_updated\n"
           b"PROD-001,5,WH-SF,2024-01-15T09:00:00Z\nPROD-002,abc,WH-SF,2024-01-15T09:00:00Z\n")
    (tmp_path / "inv.csv.xz").write_bytes(lzma.compress(csv))
    (tmp_path / "catalog.json.bz2").write_bytes(bz2.compress(json.dumps(CATALOG, indent=1).encode()))
    with Pipeline(tmp_path / "x.db", load_entrypoints=False) as p:
        assert p.ingest("catalog", tmp_path / "catalog.json.bz2").sources[0].valid == 5
        [s] = p.ingest("inventory", tmp_path / "inv.csv.xz").sources
        assert (s.read, s.valid, s.quarantined) == (2, 1, 1)
        assert [r[0] for r in p.db.execute("SELECT line FROM event_log WHERE stream = 'inventory' ORDER BY \"offset\"")] == [2, 3]


def test_a_damaged_compressed_file_keeps_what_it_holds_and_says_where_it_breaks(shop, tmp_path):
    data = order_file(3000)
    packed = gzip.compress(data)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[:len(packed) // 2])
    [held] = shop.ingest("orders", path).sources  # just written: it may still be growing, the damage waits
    assert held.held_back == 1 and held.read > 100
    os.utime(path, (time.time() - 3600, time.time() - 3600))  # settled: it is cut short for good
    [rest] = shop.ingest("orders", path).sources
    rows = logged(shop, str(path))
    good = [r for r in rows if r[2] is None]
    assert len(good) > 100 and b"".join(r[1] + b"\n" for r in good) == data[:sum(len(r[1]) + 1 for r in good)]
    assert rows[-1][2] == "malformed_record"
    reason = shop.db.execute("SELECT reason FROM event_log ORDER BY \"offset\" DESC LIMIT 1").fetchone()[0]
    assert reason.startswith("the gzip data is damaged or cut short after ")
    assert held.read + rest.read == held.appended + rest.appended == len(rows)
    [again] = shop.ingest("orders", path).sources
    assert again.appended == 0, "running again appended the damage twice"


def test_follow_refuses_a_compressed_file(shop, tmp_path):
    path = tmp_path / "live.jsonl.gz"
    path.write_bytes(gzip.compress(order_file(5)))
    with pytest.raises(SourceError, match="gzip-compressed, and --follow"):
        shop.follow("orders", path, should_stop=lambda: True)
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "shop.db"), "ingest", "orders", str(path), "--follow"])
    assert result.exit_code == 1 and "gzip-compressed" in result.stderr and "Traceback" not in result.output


def test_many_batches_of_a_compressed_file_resume_exactly(tmp_path):
    """Each batch's checkpoint fingerprints the uncompressed bytes read so far (one forward
    scan); a grown file then resumes after the last of them."""
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    data = order_file(2500)
    lines = data.splitlines(keepends=True)
    path = tmp_path / "orders.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(lines[:1234])))
    with Pipeline(tmp_path / "x.db", load_entrypoints=False, batch_size=100) as p:
        p.ingest("catalog", tmp_path / "catalog.json")
        assert p.ingest("orders", path).sources[0].appended == 1234
        path.write_bytes(gzip.compress(data))
        [s] = p.ingest("orders", path).sources
        assert (s.skipped, s.appended, s.duplicates) == (1234, 1266, 0)
        assert p.db.execute("SELECT COUNT(*) FROM event_log WHERE stream = 'orders'").fetchone() == (2500,)


@pytest.mark.parametrize("content", [b"(\xb5/\xfd\n", b"(\xb5/\xfd\n(\xb5/\xfd\n", "cut"])
def test_a_bad_or_cut_zstd_file_is_one_malformed_record_not_a_crash_or_nothing(shop, tmp_path, content):
    """zstandard's stream reader ends silently, with no bytes, on a cut frame, and raises its own
    error on a bad one: neither may lose the file or stop the run (hypothesis found both)."""
    if content == "cut":
        packed = zstd_compress(order_file(50))
        content = packed[:len(packed) - 5]
    else:
        pytest.importorskip("zstandard", reason="zstd needs the zstandard package (the zstd extra)")
    path = tmp_path / "orders.jsonl"
    path.write_bytes(content)
    os.utime(path, (time.time() - 3600, time.time() - 3600))  # settled
    [first] = shop.ingest("orders", path).sources
    rows = logged(shop, str(path))
    assert first.read == first.appended == len(rows) >= 1 and rows[-1][2] == "malformed_record"
    reason = shop.db.execute("SELECT reason FROM event_log ORDER BY \"offset\" DESC LIMIT 1").fetchone()[0]
    assert "zstd" in reason, reason
    [again] = shop.ingest("orders", path).sources
    assert again.appended == 0
