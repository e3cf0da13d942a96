"""Readers: every contract record comes back once, with its line, bytes and any problem."""

from __future__ import annotations

import pytest

from fastcommerce.sources import read_catalog, read_csv, read_jsonl


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


def test_resume_from_offset_keeps_line_numbers(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    first = list(read_jsonl(path))
    rest = list(read_jsonl(path, start=first[0].end, line=first[0].line))
    assert [r.line for r in rest] == [2, 3] and rest[0].value == {"a": 2}


def test_huge_line_is_kept_whole_and_rejected(tmp_path):
    path = tmp_path / "o.jsonl"
    body = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    path.write_bytes(b'{"a": 1}\n' + body + b'\n{"a": 2}\n')
    recs = list(read_jsonl(path))
    assert [r.line for r in recs] == [1, 2, 3]
    assert recs[1].raw == body and "over the" in recs[1].malformed
    assert recs[2].value == {"a": 2}


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
