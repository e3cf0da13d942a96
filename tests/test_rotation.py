"""A file rotated away between two ingests keeps its unread lines: the next ingest of the
path finds it by its checkpoint's fingerprint and reads the rest under its new name."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import attrs
import pytest
import structlog
from test_follow_robustness import append, order

from fastcommerce import Pipeline


def logged(p: Pipeline) -> list[tuple[str, str, int]]:
    return p.db.execute("SELECT natural_key, source, line FROM event_log WHERE stream = 'orders' "
                        'ORDER BY "offset"').fetchall()


def rotate(live: Path, to: str, new: bytes) -> Path:
    rotated = live.with_name(to)
    os.rename(live, rotated)
    live.write_bytes(new)
    return rotated


@pytest.fixture
def unread(tmp_path):
    """``(pipeline, live.jsonl)``: ORD-1 read, then ORD-2 appended and not read yet."""
    live = tmp_path / "live.jsonl"
    live.write_bytes(order(1))
    with Pipeline(tmp_path / "r.db", load_entrypoints=False) as p:
        p.ingest("orders", live)
        append(live, order(2))
        yield p, live


def test_lines_appended_before_a_rotation_are_read_by_the_next_ingest(unread):
    p, live = unread
    append(live, order(3))
    rotated = rotate(live, "live.jsonl.1", order(10))
    summary = p.ingest("orders", live)
    assert [(s.source, s.read, s.appended) for s in summary.sources] == [
        (str(rotated), 2, 2), (str(live), 1, 1)]
    assert logged(p) == [("ORD-1", str(live), 1), ("ORD-2", str(rotated), 2),
                         ("ORD-3", str(rotated), 3), ("ORD-10", str(live), 1)]
    # both files are now read to their end under their own names: nothing more to read
    again = p.ingest("orders", live, rotated)
    assert [(s.read, s.appended) for s in again.sources] == [(0, 0), (0, 0)]


def test_the_rotated_file_is_found_by_its_bytes_not_its_name(unread, tmp_path):
    p, live = unread
    # rotated and compressed: other bytes, so not taken for the checkpointed file
    live.with_name("live.jsonl.1.gz").write_bytes(gzip.compress(live.read_bytes()))
    live.unlink()
    live.write_bytes(order(10))
    # an older rotation: other bytes where the checkpoint took its fingerprint
    (tmp_path / "live.jsonl.2").write_bytes(order(7) + order(99))
    # a file whose name merely starts like it is not a rotation of it
    (tmp_path / "live.jsonlx").write_bytes(order(1) + order(98))
    summary = p.ingest("orders", live)
    assert [s.source for s in summary.sources] == [str(live)]
    assert [k for k, _s, _l in logged(p)] == ["ORD-1", "ORD-10"]


def test_a_rotated_file_already_read_under_its_own_name_is_not_read_again(unread):
    p, live = unread
    rotated = rotate(live, "live.jsonl-20240115", order(10))
    p.ingest("orders", rotated)  # read by hand first
    summary = p.ingest("orders", live)
    assert [(s.source, s.read) for s in summary.sources] == [(str(live), 1)]
    assert p.db.execute("SELECT COUNT(*) FROM event_log").fetchone()[0] == 3
    assert sum(s.duplicates for s in summary.sources) == 0


def test_without_resume_nothing_is_looked_for(unread):
    p, live = unread
    rotate(live, "live.jsonl.1", order(10))
    summary = p.ingest("orders", live, resume=False)
    assert [s.source for s in summary.sources] == [str(live)]


def test_a_rotated_file_that_grew_after_it_was_read_under_its_own_name_is_read_again(unread):
    p, live = unread
    with open(live, "ab", buffering=0) as writer:  # a writer that has not reopened its file yet
        rotated = rotate(live, "live.jsonl.1", order(10))
        p.ingest("orders", live)  # the rest of live.jsonl.1 so far, then the new file
        writer.write(order(3))  # ... still written to the rotated file
    summary = p.ingest("orders", live)
    assert [(s.source, s.read) for s in summary.sources] == [(str(rotated), 1), (str(live), 0)]
    assert [k for k, _s, _l in logged(p)] == ["ORD-1", "ORD-2", "ORD-10", "ORD-3"]


def test_copytruncate_leaves_the_unread_lines_in_the_copy_and_they_are_read(unread):
    p, live = unread
    copy = live.with_name("live.jsonl.1")
    shutil.copyfile(live, copy)  # logrotate's copytruncate: copy, then empty in place
    with open(live, "r+b") as fh:
        fh.truncate(0)
    append(live, order(10) + order(11))
    summary = p.ingest("orders", live)
    assert [(s.source, s.read) for s in summary.sources] == [(str(copy), 1), (str(live), 2)]
    assert [k for k, _s, _l in logged(p)] == ["ORD-1", "ORD-2", "ORD-10", "ORD-11"]


def test_a_sibling_that_was_never_rotated_away_from_the_path_is_not_read_with_it(tmp_path):
    live, eu = tmp_path / "live.jsonl", tmp_path / "live.jsonl.eu"  # two sources, one name prefix
    live.write_bytes(order(1))
    eu.write_bytes(order(50))
    with Pipeline(tmp_path / "r.db", load_entrypoints=False) as p:
        p.ingest("orders", live, eu)
        append(eu, order(51)[:20])  # its writer is mid-line
        summary = p.ingest("orders", live)
        assert [(s.source, s.read) for s in summary.sources] == [(str(live), 0)]
        assert p.db.execute("SELECT COUNT(*) FROM event_log WHERE rejected IS NOT NULL").fetchone() == (0,)


def test_a_rotation_nobody_read_between_two_reads_is_named_in_a_warning(unread):
    p, live = unread
    first = rotate(live, "live.jsonl.2", order(3))
    os.utime(first, ns=(1, 1))  # rotated first, so last written before the other
    second = rotate(live, "live.jsonl.1", order(4))
    with structlog.testing.capture_logs() as logs:
        summary = p.ingest("orders", live)
    assert [s.source for s in summary.sources] == [str(first), str(live)]
    warned = [e for e in logs if e["event"] == "rotated_files_not_read"]
    assert [e["files"] for e in warned] == [[str(second)]]


def test_a_file_emptied_between_its_read_and_its_checkpoint_is_fingerprinted_on_its_copy(unread, monkeypatch):
    """copytruncate while a reader is on the file: the checkpoint is saved after the file
    was emptied, so it is fingerprinted on the copy, which holds the bytes that were read."""
    p, live = unread
    spec = p.streams.get("orders")
    plain = spec.reader

    def reader(*args, **kwargs):
        yield from plain(*args, **kwargs)  # ORD-2 read; then, before the checkpoint is saved:
        append(live, order(3))  # the writer adds a line
        shutil.copyfile(live, live.with_name("live.jsonl.1"))  # logrotate copies ...
        with open(live, "r+b") as fh:  # ... and empties the file
            fh.truncate(0)

    monkeypatch.setitem(p.streams._streams, "orders", attrs.evolve(spec, reader=reader))
    p.ingest("orders", live)
    monkeypatch.setitem(p.streams._streams, "orders", spec)
    append(live, order(10))
    summary = p.ingest("orders", live)
    assert [(s.source, s.read) for s in summary.sources] == [(str(live.with_name("live.jsonl.1")), 1), (str(live), 1)]
    assert [k for k, _s, _l in logged(p)] == ["ORD-1", "ORD-2", "ORD-3", "ORD-10"]
