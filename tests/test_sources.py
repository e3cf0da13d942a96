"""Readers: every contract record comes back once, with its line, bytes and any problem."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import tracemalloc

import pytest

from fastcommerce.sources import (
    _Capped,
    oversized_identity,
    read_catalog,
    read_csv,
    read_jsonl,
    strip_eol,
)


def test_jsonl_lines_crlf_and_missing_final_newline(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n{"b": 2}')
    recs = list(read_jsonl(path))
    assert [(r.line, r.raw, r.malformed) for r in recs] == [
        (1, b'{"a": 1}', None), (2, b"", "blank line"), (3, b'{"b": 2}', None)]
    assert recs[-1].end == path.stat().st_size


def test_final_newline_does_not_start_a_line(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"a": 1}\n')
    assert len(list(read_jsonl(path))) == 1


def test_bom_at_the_start_of_the_file_is_not_part_of_the_first_record(tmp_path):
    path = tmp_path / "o.jsonl"
    first, second = b'{"a": 1}', b'{"a": 2}'
    path.write_bytes(b"\xef\xbb\xbf" + first + b"\r\n" + second + b"\n")
    recs = list(read_jsonl(path))
    assert [(r.line, r.raw, r.value, r.malformed) for r in recs] == [
        (1, first, {"a": 1}, None), (2, second, {"a": 2}, None)]
    assert [r.end for r in recs] == [3 + len(first) + 2, path.stat().st_size]  # its bytes count
    rest = list(read_jsonl(path, start=recs[0].end, line=1))
    assert [(r.line, r.raw) for r in rest] == [(2, second)]
    # a BOM alone, or before a blank first line: encoding, then a blank line
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf")
    assert list(read_jsonl(tmp_path / "b.jsonl")) == []
    (tmp_path / "c.jsonl").write_bytes(b"\xef\xbb\xbf\n" + first)
    assert [(r.line, r.raw, r.malformed) for r in read_jsonl(tmp_path / "c.jsonl")] == [
        (1, b"", "blank line"), (2, first, None)]


def test_bom_anywhere_else_is_data(tmp_path):
    path = tmp_path / "o.jsonl"
    bom_line = b"\xef\xbb\xbf" + b'{"a": 2}'
    path.write_bytes(b'{"a": 1}\n' + bom_line + b"\n")
    recs = list(read_jsonl(path))
    assert recs[0].malformed is None
    assert recs[1].raw == bom_line and "BOM" in recs[1].malformed
    # resumed at that line: a BOM at the read's start is still mid-file
    (again,) = read_jsonl(path, start=recs[0].end, line=1)
    assert again.raw == bom_line and again.malformed == recs[1].malformed


def test_bom_and_a_huge_first_line(tmp_path):
    path = tmp_path / "o.jsonl"
    body = b"x" * (3 * LIMIT)
    path.write_bytes(b"\xef\xbb\xbf" + body + b"\n")
    (rec,) = read_jsonl(path, max_record_bytes=LIMIT)
    assert rec.raw == body[:LIMIT] and rec.identity == oversized_identity(_sha(body))
    assert rec.malformed.startswith(f"line is {len(body):,} bytes") and rec.end == path.stat().st_size


def test_bom_file_is_ingested_as_its_records(tmp_path):
    """The same order with and without a BOM is one record and a duplicate."""
    from fastcommerce import Pipeline

    order = (b'{"order_id": "O1", "customer_id": "C1", "timestamp": "2024-01-15T10:00:00Z", '
             b'"status": "pending", "items": [{"product_id": "P1", "quantity": 1, "unit_price": 5.0}]}')
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + order + b"\n")
    (tmp_path / "b.jsonl").write_bytes(order + b"\n")
    with Pipeline(tmp_path / "log.db", load_entrypoints=False) as p:
        summary = p.ingest("orders", tmp_path / "a.jsonl", tmp_path / "b.jsonl")
        a, b = summary.sources
        assert (a.read, a.appended, a.malformed, b.read, b.duplicates) == (1, 1, 0, 1, 1)


def test_resume_from_offset_keeps_line_numbers(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    first = list(read_jsonl(path))
    rest = list(read_jsonl(path, start=first[0].end, line=first[0].line))
    assert [r.line for r in rest] == [2, 3] and rest[0].value == {"a": 2}


LIMIT = 64 * 1024


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_huge_line_is_rejected_keeping_only_its_start_with_exact_offsets(tmp_path):
    path = tmp_path / "o.jsonl"
    body = b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    first, last = b'{"a": 1}\n', b'{"a": 2}\n'
    path.write_bytes(first + body + b"\r\n" + last)
    recs = list(read_jsonl(path, max_record_bytes=LIMIT))
    assert [r.line for r in recs] == [1, 2, 3]
    assert [r.end for r in recs] == [len(first), len(first) + len(body) + 2, path.stat().st_size]
    big = recs[1]
    assert big.raw == body[:LIMIT] and big.value is None
    assert big.malformed == (f"line is {len(body):,} bytes, over the 65,536-byte limit "
                             "(the first 65,536 bytes are kept)")
    assert big.identity == oversized_identity(_sha(body))  # all of it, line terminator aside
    assert recs[2].value == {"a": 2}
    # a resumed read starts right after it
    rest = list(read_jsonl(path, start=big.end, line=big.line, max_record_bytes=LIMIT))
    assert [(r.line, r.value) for r in rest] == [(3, {"a": 2})]


def test_huge_line_is_never_held_whole(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_bytes(b"x" * (8 * 1024 * 1024) + b"\n" + b'{"a": 1}\n')
    tracemalloc.start()
    try:
        recs = list(read_jsonl(path, max_record_bytes=LIMIT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.line for r in recs] == [1, 2]
    assert peak < 1024 * 1024, peak  # a few chunks of 64 KiB, not 8 MiB


def test_huge_lines_are_duplicates_by_all_their_bytes(tmp_path):
    """The same oversized line twice is one record and a duplicate (whatever its line
    terminator); two that share the stored prefix but differ later are two records."""
    path = tmp_path / "o.jsonl"
    a = b"a" * (3 * LIMIT)
    b = a[:-1] + b"b"
    path.write_bytes(a + b"\n" + b + b"\n" + a + b"\r\n" + a)
    recs = list(read_jsonl(path, max_record_bytes=LIMIT))
    assert [r.raw for r in recs] == [a[:LIMIT]] * 4
    assert [r.identity for r in recs] == [oversized_identity(_sha(x)) for x in (a, b, a, a)]
    assert recs[-1].end == path.stat().st_size


def test_capped_record_is_the_same_however_it_is_chunked():
    """The line terminator may fall across two chunks: the identity still leaves it out."""
    rng = random.Random(7)
    limit = 50
    for body in (b"y" * 51, b"y" * 300, b"y\r" * 100, b"\r" * 60):
        for eol in (b"", b"\n", b"\r\n"):
            data = body + eol
            whole = strip_eol(data)  # as a line read whole is taken
            expected = (whole[:limit], len(whole), oversized_identity(_sha(b"salt" + whole)))
            for _ in range(50):
                acc, i = _Capped(limit, b"salt"), 0
                while i < len(data):
                    n = rng.choice([0, 1, 2, 3, rng.randint(1, len(data))])
                    acc.add(data[i:i + n])
                    i += n
                assert acc.finish() == expected, (body[:5], eol)
    acc = _Capped(limit)
    acc.add(b"z" * limit + b"\r\n")  # exactly at the limit: whole, identified by its bytes
    assert acc.finish() == (b"z" * limit, limit, None)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b""])
def test_line_lengths_around_the_limit_and_the_chunk(tmp_path, eol):
    """A line read in one chunk or several is judged the same way, at the same length."""
    path = tmp_path / "o.jsonl"
    bodies = [b"1" * 100, b"2" * 101, b"3" * (65536 - 2), b"4" * (65536 - 1), b"5" * 65536, b"6" * 65537]
    path.write_bytes(b"\n".join(bodies) + eol)
    recs = list(read_jsonl(path, max_record_bytes=100))
    assert [r.line for r in recs] == [1, 2, 3, 4, 5, 6]
    assert recs[0].raw == bodies[0] and recs[0].identity is None and "limit" not in recs[0].malformed
    for rec, body in zip(recs[1:], bodies[1:]):
        assert rec.raw == body[:100]
        assert rec.malformed.startswith(f"line is {len(body):,} bytes")
        assert rec.identity == oversized_identity(_sha(body))
    assert recs[-1].end == path.stat().st_size


def test_long_line_still_being_written_is_left_for_later(tmp_path):
    path = tmp_path / "o.jsonl"
    body = b"x" * (3 * 1024 * 1024)
    path.write_bytes(b'{"a": 1}\n' + body)
    recs = list(read_jsonl(path, max_record_bytes=LIMIT, complete_lines_only=True))
    assert [r.line for r in recs] == [1]
    with open(path, "ab") as fh:
        fh.write(b'\n{"a": 2}\n')
    rest = list(read_jsonl(path, start=recs[0].end, line=1, max_record_bytes=LIMIT, complete_lines_only=True))
    assert [r.line for r in rest] == [2, 3] and rest[1].value == {"a": 2}
    assert rest[0].raw == body[:LIMIT] and rest[0].end == 9 + len(body) + 1
    assert rest[1].end == path.stat().st_size


def test_huge_line_in_the_log_is_bounded_and_accounted(tmp_path):
    """Through the pipeline: the log stores the prefix only, the reason the true size, the
    same huge line again is a duplicate and a different one is a record."""
    from fastcommerce import Pipeline

    a = b'{"order_id": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    b = a[:-3] + b'b"}'
    path = tmp_path / "o.jsonl"
    path.write_bytes(a + b"\n" + b + b"\n" + a + b"\n")
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, max_record_bytes=LIMIT) as p:
        summary = p.ingest("orders", path).sources[0]
        assert (summary.read, summary.appended, summary.duplicates, summary.malformed) == (3, 2, 1, 2)
    con = sqlite3.connect(tmp_path / "log.db")
    rows = con.execute("SELECT length(raw), reason FROM event_log ORDER BY \"offset\"").fetchall()
    con.close()
    reason = f"line is {len(a):,} bytes, over the 65,536-byte limit (the first 65,536 bytes are kept)"
    assert rows == [(LIMIT, reason)] * 2


def test_csv_huge_rows_and_header_keep_only_their_start(tmp_path):
    path = tmp_path / "i.csv"
    long_row = b"P1," + b"9" * (2 * 1024 * 1024)
    quoted = b'P2,"' + b"n" * 1000 + b"\n" + b"m" * (1024 * 1024) + b'",5'
    path.write_bytes(b"product_id,available_quantity\n" + long_row + b"\n" + quoted + b"\nP3,7\n")
    recs = list(read_csv(path, max_record_bytes=LIMIT))
    assert [(r.line, r.lines_read) for r in recs] == [(2, 2), (3, 4), (5, 5)]
    assert recs[0].raw == long_row[:LIMIT] and f"row is {len(long_row):,} bytes" in recs[0].malformed
    # the quoted row passes the limit on its second line, and ends with that line
    assert recs[1].raw == quoted[:LIMIT] and recs[1].malformed.startswith("row is ")
    assert recs[1].end == path.stat().st_size - len(b"P3,7\n")
    assert recs[2].value == {"product_id": "P3", "available_quantity": "7"}
    # identified by the whole row under its header
    assert recs[0].identity == oversized_identity(_sha(b"product_id,available_quantity\n" + long_row))
    other = tmp_path / "j.csv"
    other.write_bytes(b"available_quantity,product_id\n" + long_row + b"\n")
    (under_other,) = read_csv(other, max_record_bytes=LIMIT)
    assert under_other.identity != recs[0].identity

    header = b"product_id," + b"h" * (1024 * 1024)
    bad = tmp_path / "h.csv"
    bad.write_bytes(header + b"\nP1,5\n" + long_row + b"\n")
    recs = list(read_csv(bad, max_record_bytes=LIMIT))
    assert [r.line for r in recs] == [2, 3] and recs[-1].end == bad.stat().st_size
    assert f"header is {len(header):,} bytes, over the 65,536-byte limit" in recs[0].malformed
    assert recs[0].raw == b"P1,5" and len(recs[1].raw) == LIMIT
    assert "header" in recs[1].malformed and "row is" in recs[1].malformed


def test_csv_huge_row_still_being_written_is_left_for_later(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes(b"product_id,available_quantity\nP1,5\nP2," + b"9" * (1024 * 1024))
    assert [r.line for r in read_csv(path, max_record_bytes=LIMIT, complete_lines_only=True)] == [2]


def test_catalog_huge_product_keeps_only_its_start(tmp_path):
    path = tmp_path / "c.json"
    big = b'{"product_id": "P1", "name": "' + b"n" * (1024 * 1024) + b'"}'
    other = big[:-3] + b'm"}'
    path.write_bytes(b"[\n" + big + b",\n" + other + b',\n{"product_id": "P2"}]')
    recs = list(read_catalog(path, max_record_bytes=LIMIT))
    assert [r.line for r in recs] == [2, 3, 4]
    assert [r.raw for r in recs[:2]] == [big[:LIMIT]] * 2
    assert recs[0].malformed == (f'products[0] "P1": product is {len(big):,} bytes, over the 65,536-byte limit '
                                 "(the first 65,536 bytes are kept)")
    assert [r.identity for r in recs[:2]] == [oversized_identity(_sha(big)), oversized_identity(_sha(other))]
    assert recs[2].value == {"product_id": "P2"}
    broken = tmp_path / "b.json"
    broken.write_bytes(b'[{"product_id": "P1"}, ' + b"{" * (1024 * 1024))
    recs = list(read_catalog(broken, max_record_bytes=LIMIT))
    assert len(recs[-1].raw) == LIMIT and "the first 65,536 bytes are kept" in recs[-1].malformed


@pytest.mark.parametrize("line, reason", [
    (b"\xff\xfe", "not valid UTF-8"), (b"{x", "not valid JSON"), (b"[1]", "not an object"),
    (b"null", "not an object"), (b"NaN", "not valid JSON"),
])
def test_jsonl_malformed_reasons(tmp_path, line, reason):
    path = tmp_path / "o.jsonl"
    path.write_bytes(line + b"\n")
    (rec,) = read_jsonl(path)
    assert reason in rec.malformed and rec.raw == line


def test_big_integers_are_valid_json_and_read_back_exactly(tmp_path):
    from fastcommerce.reading import parse_exact

    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"n": 123456789012345678901234567890, "p": 0.1000000000000000055511}\n')
    (rec,) = read_jsonl(path)
    assert rec.malformed is None
    exact = parse_exact(rec.raw)  # the read path never goes through binary floats
    assert exact["n"] == 123456789012345678901234567890
    assert str(exact["p"]) == "0.1000000000000000055511"


def test_csv_rows_keyed_by_header_and_bad_rows_kept(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes(b"available_quantity,product_id\n5,P1\n\n1,2,3\n\xff,P2\n")
    recs = list(read_csv(path))
    assert [r.line for r in recs] == [2, 3, 4, 5]
    assert recs[0].value == {"available_quantity": "5", "product_id": "P1"}
    assert "fields" in recs[1].malformed and "fields" in recs[2].malformed
    assert "UTF-8" in recs[3].malformed


def test_csv_same_row_under_same_header_is_byte_identical(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("product_id,available_quantity\nP1,5\n")
    b.write_text("product_id,available_quantity\nP0,1\nP1,5\n")
    assert list(read_csv(a))[0].raw == list(read_csv(b))[1].raw
    assert list(read_csv(a))[0].identity == list(read_csv(b))[1].identity


def test_csv_duplicates_are_byte_identical_rows_not_equal_values(tmp_path):
    """Contract 6: an exact duplicate is byte-identical; the same values written another way
    are a new record. The header is part of a row's identity: under another header the same
    bytes say something else."""
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text('product_id,available_quantity\nP1,5\n"P1",5\nP1,"5"\nP1,5\n')
    b.write_text("available_quantity,product_id\nP1,5\n")
    c.write_text("product_id,available_quantity\r\nP1,5\r\n")
    recs = list(read_csv(a))
    assert len({r.raw for r in recs}) == 1  # one stored meaning,
    assert [r.identity for r in recs].count(recs[0].identity) == 2  # but three records
    assert len({r.identity for r in recs}) == 3
    assert list(read_csv(b))[0].identity not in {r.identity for r in recs}
    assert list(read_csv(c))[0].identity == recs[0].identity  # line terminators aside


def test_csv_quoted_line_breaks_stay_in_one_row(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes(b'product_id,note,available_quantity\nP1,"two\nlines",5\nP2,"a ""quoted""\r\n\r\nnote",6\n'
                     b'P3,12" pizza,7\nP4,plain,8\n')
    recs = list(read_csv(path))
    assert [(r.line, r.lines_read) for r in recs] == [(2, 3), (4, 6), (7, 7), (8, 8)]
    assert recs[0].value == {"product_id": "P1", "note": "two\nlines", "available_quantity": "5"}
    assert recs[1].value["note"] == 'a "quoted"\r\n\r\nnote'
    assert recs[2].value["note"] == '12" pizza'  # a quote inside an unquoted field opens nothing
    # resuming after a multi-line row starts at the next row, with the right line numbers
    again = list(read_csv(path, start=recs[0].end, line=recs[0].lines_read))
    assert [r.line for r in again] == [4, 7, 8]


def test_csv_unclosed_quote_costs_one_row_within_the_size_limit(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes(b'product_id,available_quantity\nP1,"5\n' + b"P2,6\n" * 10 + b"P3,7\n")
    recs = list(read_csv(path, max_record_bytes=30))
    assert recs[0].malformed and recs[0].line == 2
    assert recs[-1].value == {"product_id": "P3", "available_quantity": "7"}
    assert sum(r.lines_read - r.line + 1 for r in recs) == 12  # every line is in one record
    at_end = list(read_csv(tmp_path / "i.csv"))  # no limit reached: the quote runs to the end
    assert len(at_end) == 1 and "CSV" in at_end[0].malformed


def test_csv_row_still_being_written_is_left_for_later(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes(b'product_id,note,available_quantity\nP1,x,1\nP2,"half\nof it')
    recs = list(read_csv(path, complete_lines_only=True))
    assert [r.line for r in recs] == [2]


def test_catalog_list_and_object_forms_with_lines(tmp_path):
    obj = tmp_path / "c.json"
    obj.write_text('{"version": 2,\n "products": [\n  {"product_id": "P1", "price": 1.10},\n  {"product_id": "P2"}\n]}')
    recs = list(read_catalog(obj))
    assert [(r.line, r.value["product_id"]) for r in recs] == [(3, "P1"), (4, "P2")]
    assert recs[0].raw == b'{"product_id": "P1", "price": 1.10}'  # as received: 1.10 kept
    lst = tmp_path / "l.json"
    lst.write_text('[{"product_id": "P1"}, "oops"]')
    recs = list(read_catalog(lst))
    assert recs[0].malformed is None and "not an object" in recs[1].malformed


@pytest.mark.parametrize("text, reason", [
    ("", "empty catalog"), ("[{\"product_id\": \"P1\"}, {bad", "not valid JSON"),
    ('{"items": []}', "no 'products' list"), ("42", "neither a JSON list"),
    ('[{"product_id": "P1"} {"product_id": "P2"}]', "expected ','"), ('[{"a": 1}', "not closed"),
])
def test_catalog_broken_documents_keep_what_they_can(tmp_path, text, reason):
    path = tmp_path / "c.json"
    path.write_text(text)
    recs = list(read_catalog(path))
    assert reason in recs[-1].malformed
    assert all(r.malformed is None for r in recs[:-1])


def test_records_given_through_the_api_obey_the_size_limit(tmp_path):
    from fastcommerce import Pipeline

    huge = '{"order_id": "' + "x" * 5000 + '"}'
    with Pipeline(tmp_path / "log.db", load_entrypoints=False, max_record_bytes=1000) as p:
        first = p.ingest_records("orders", [huge, {"order_id": "y" * 5000}, '{"order_id": "O1"}'])
        again = p.ingest_records("orders", [huge])
        rows = p.log.conn.execute("SELECT length(raw), rejected, reason FROM event_log ORDER BY \"offset\"").fetchall()
    assert (first.appended, again.duplicates) == (3, 1)  # a re-delivery is still a duplicate
    assert [r[:2] for r in rows[:2]] == [(1000, "malformed_record")] * 2
    assert "record is 5,016 bytes, over the 1,000-byte limit (the first 1,000 bytes are kept)" in rows[0][2]
    assert rows[2][0] < 1000 and rows[2][1] is None


def test_a_csv_with_a_bom_has_the_same_rows_as_without(tmp_path):
    plain, bom = tmp_path / "a.csv", tmp_path / "b.csv"
    plain.write_bytes(b"product_id,available_quantity\nP1,5\n")
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    a, b = list(read_csv(plain)), list(read_csv(bom))
    assert [r.identity for r in a] == [r.identity for r in b] and a[0].value == b[0].value


def test_a_bad_catalog_product_is_named_by_its_index_and_id(tmp_path):
    """Issue 17, 4k: beside its physical line, a product the reader cannot take is named by
    its index in the list and, when readable, its id."""
    path = tmp_path / "c.json"
    path.write_bytes(b'{"products": [\n {"product_id": "P0", "name": "a", "category": "c", "price": 1},\n'
                     b' "a string",\n {"product_id": "P2", "name": "b", "category": "c", "price": 2} x\n]}')
    recs = list(read_catalog(path))
    assert [(r.line, r.malformed) for r in recs] == [
        (2, None), (3, "products[1]: JSON a string, not an object"),
        (4, None), (4, "expected ',' or ']' after products[2] \"P2\""),
    ]
    broken = tmp_path / "b.json"
    broken.write_bytes(b'[{"product_id": "P0"},\n {"product_id": "P1", oops}]')
    assert list(read_catalog(broken))[-1].malformed.startswith("products[1] on: not valid JSON")


def test_the_quality_report_names_the_product_of_a_bad_catalog_record(tmp_path):
    from fastcommerce import Pipeline

    path = tmp_path / "c.json"
    path.write_bytes(b'[\n{"product_id": "P0", "name": "a", "category": "c", "price": 1},\n'
                     b'{"product_id": "P1", "name": "b", "category": "c", "price": "abc"}]')
    with Pipeline(tmp_path / "x.db", load_entrypoints=False) as p:
        p.ingest("catalog", path)
        [row] = p.report("quality").rows
    assert (row["line"], row["key"], row["codes"]) == (3, "P1", "invalid_item")
