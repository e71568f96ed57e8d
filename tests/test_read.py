"""The reader keeps every line: a row or a reject with its reason, line numbers exact."""

import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import write_lines
from ultrachat_dataset.errors import DataFileError
from ultrachat_dataset.release.read import is_valid_utf8, read_file

GOOD = {"id": "7", "data": ["Hello?", "Hi there."]}


def read_all(path, **options):
    rows, rejects, lines = [], [], 0
    for batch in read_file(path, **options):
        rows += batch.rows.to_pylist()
        rejects += batch.rejects.to_pylist()
        lines += batch.lines
    return rows, rejects, lines


def reasons_by_line(rejects):
    return {item["line"]: item["reason"] for item in rejects}


@pytest.mark.parametrize("line, reason", [
    (b"{not json}", "invalid_json"),
    (b"", "blank_line"),
    (b"   \t ", "blank_line"),
    (b'{"id": "1", "data": ["a\xff", "b"]}', "invalid_utf8"),
    (b'{"id": "1", "\xffdata": ["a", "b"]}', "invalid_utf8"),  # even in a key pyarrow ignores
    (b'{"id": "1", "data": ["a \\ud800 b", "b"]}', "lone_surrogate"),
    (b'{"id": "1", "data": ["a", "b \\udc00"]}', "lone_surrogate"),
    (b'{"id": "1", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json_too_deep"),
    (b'["a", "b"]', "not_an_object"),
    (b'"just a string"', "not_an_object"),
    (b'{"id": "1", "data": "a b"}', "data_not_list"),
    (b'{"id": "1", "data": ["a", 5]}', "turn_not_string"),
    (b'{"id": "1", "data": ["a", ["b"]]}', "turn_not_string"),
    (b'{"id": true, "data": ["a", "b"]}', "bad_id"),
    (b'{"id": ["x"], "data": ["a", "b"]}', "bad_id"),
    (json.dumps(GOOD).encode() + b" " + json.dumps(GOOD).encode(), "invalid_json"),
])
def test_each_bad_line_is_rejected_with_its_reason_and_neighbours_survive(tmp_path, line, reason):
    # 40 good lines around the bad one, so the fast path sees the bad line inside a large block.
    records = [dict(GOOD, id=str(i)) for i in range(20)] + [line] + \
              [dict(GOOD, id=str(i)) for i in range(21, 41)]
    rows, rejects, lines = read_all(write_lines(tmp_path / "f.json", records))
    assert lines == 41
    assert reasons_by_line(rejects) == {21: reason}
    assert [row["line"] for row in rows] == [n for n in range(1, 42) if n != 21]
    assert [row["id"] for row in rows] == [str(i) for i in range(41) if i != 20]
    assert rejects[0]["source"] == "f.json" and rejects[0]["stage"] == "read"


def test_rows_carry_sector_source_and_line(tmp_path):
    path = write_lines(tmp_path / "x.json", [GOOD, GOOD])
    rows, _, _ = read_all(path, sector="writing", source="release.json")
    assert rows == [dict(GOOD, sector="writing", source="release.json", line=1),
                    dict(GOOD, sector="writing", source="release.json", line=2)]


def test_numeric_id_is_kept_as_its_string_and_counted_as_a_repair(tmp_path):
    path = write_lines(tmp_path / "f.json", [{"id": 12, "data": ["a", "b"]}] * 3)
    batches = list(read_file(path))
    assert [row["id"] for b in batches for row in b.rows.to_pylist()] == ["12"] * 3
    assert sum(b.repairs["id_number_to_string"] for b in batches) == 3


def test_extra_fields_are_ignored_and_the_row_kept(tmp_path):
    record = {"id": "1", "data": ["a", "b"], "meta": {"deep": [1, {"x": None}]}, "z": 1.5}
    rows, rejects, _ = read_all(write_lines(tmp_path / "f.json", [record] * 30))
    assert len(rows) == 30 and not rejects
    assert rows[0]["data"] == ["a", "b"]


@pytest.mark.parametrize("variant", ["plain", "gzip", "bom", "crlf", "gzip+bom+crlf"])
def test_gzip_bom_and_crlf_read_the_same_rows(tmp_path, variant):
    records = [{"id": str(i), "data": ["q é ü", "a \u2019 ok"]} for i in range(50)]
    newline = "\r\n" if "crlf" in variant else "\n"
    body = newline.join(json.dumps(r, ensure_ascii=False) for r in records).encode() + b"\n"
    if "bom" in variant:
        body = b"\xef\xbb\xbf" + body
    if "gzip" in variant:
        body = gzip.compress(body)
    path = tmp_path / "ultrachat_release_230407.json"  # gzip detected by magic, not by the name
    path.write_bytes(body)
    rows, rejects, lines = read_all(path)
    assert not rejects and lines == 50
    assert [(r["id"], r["data"]) for r in rows] == [(r["id"], r["data"]) for r in records]


def test_final_line_without_newline_is_read(tmp_path):
    path = write_lines(tmp_path / "f.json", [GOOD] * 3, final_newline=False)
    rows, rejects, lines = read_all(path)
    assert (len(rows), rejects, lines) == (3, [], 3)


def test_a_cut_last_line_is_a_truncated_line_but_a_bad_inner_line_is_invalid_json(tmp_path):
    cut = json.dumps(GOOD)[:15]
    path = write_lines(tmp_path / "f.json", [GOOD, cut, GOOD, cut], final_newline=False)
    _, rejects, lines = read_all(path)
    assert lines == 4
    assert reasons_by_line(rejects) == {2: "invalid_json", 4: "truncated_line"}


@pytest.mark.parametrize("block_bytes", [16, 100, 1000, 1 << 20])
def test_block_boundaries_never_split_or_lose_a_line(tmp_path, block_bytes):
    records = [{"id": str(i), "data": ["x" * (i * 7 % 300), "y" * (i % 13 + 1)]} for i in range(200)]
    records[0]["data"][0] = "first"
    records[50] = ""
    rows, rejects, lines = read_all(write_lines(tmp_path / "f.json", records),
                                    block_bytes=block_bytes)
    assert lines == 200
    assert reasons_by_line(rejects) == {51: "blank_line"}
    assert [row["line"] for row in rows] == [n for n in range(1, 201) if n != 51]


def test_lines_of_several_megabytes_are_read_whole(tmp_path):
    huge = {"id": "big", "data": ["u" * 10, "a" * (5 << 20)]}
    path = write_lines(tmp_path / "f.json", [GOOD, huge, GOOD])
    rows, rejects, _ = read_all(path, block_bytes=1 << 20)
    assert not rejects
    assert [len(r["data"][1]) for r in rows] == [9, 5 << 20, 9]


def test_a_valid_surrogate_pair_is_one_character(tmp_path):
    path = write_lines(tmp_path / "f.json", ['{"id": "1", "data": ["\\ud83d\\ude00", "ok"]}'])
    rows, rejects, _ = read_all(path)
    assert rows[0]["data"][0] == "\U0001F600" and not rejects


def test_a_reject_keeps_its_whole_raw_line_and_the_id_where_one_can_be_read(tmp_path):
    cut = '{"data": ["a", "b"], "id": "x\\"7\\u00e9", "extra": "' + "x" * 10_000  # unterminated
    lines = [GOOD, cut, '{"id": 42, "data": "not a list"}', '{"text": "a \\"id\\": \\"no\\""', GOOD]
    _, rejects, _ = read_all(write_lines(tmp_path / "f.json", lines))
    assert [(r["line"], r["reason"], r["id"]) for r in rejects] == [
        (2, "invalid_json", 'x"7\u00e9'), (3, "data_not_list", "42"), (4, "invalid_json", None)]
    assert rejects[0]["raw"] == cut  # whole: the dialogue can be recovered from rejects/
    assert [r["detail"] for r in rejects][1] == "data is str"


def test_blank_lines_say_whether_empty_or_white_space(tmp_path):
    _, rejects, _ = read_all(write_lines(tmp_path / "f.json", [GOOD, "", " \t", GOOD]))
    assert [r["detail"] for r in rejects] == ["empty", "white space only"]


def _dialogues(count=40):
    return [dict(GOOD, id=str(i)) for i in range(count)]


@pytest.mark.parametrize("shape, body, says", [
    ("utf-16 with BOM", "\n".join(json.dumps(r) for r in _dialogues()).encode("utf-16"), "UTF-16 text"),
    ("utf-16-le, no BOM", "\n".join(json.dumps(r) for r in _dialogues()).encode("utf-16-le"),
     "UTF-16 or UTF-32"),
    ("utf-32", "\n".join(json.dumps(r) for r in _dialogues()).encode("utf-32"), "UTF-32 text"),
    ("json array, one line", json.dumps(_dialogues()).encode(), "one JSON array.*jq -c"),
    ("json array, pretty", json.dumps(_dialogues(), indent=2).encode(), "one JSON array"),
    ("json array, object a line", ("[\n" + ",\n".join(json.dumps(r) for r in _dialogues())
                                   + "\n]\n").encode(), "one JSON array"),
    ("html page", b"<!DOCTYPE html>\n<html><body>Link expired</body></html>\n", "HTML.*download it"),
    ("cr line ends", "\r".join(json.dumps(r) for r in _dialogues()).encode() + b"\r", "CR-only.*tr "),
    ("empty", b"", r"empty \(0 bytes\)"),
    ("gzipped html", gzip.compress(b"<html>gone</html>"), "HTML"),
    ("csv", b"id,data\n1,hello\n2,hi\n", "none of its 3 lines is a JSON object"),
])
def test_a_file_in_another_shape_is_one_error_naming_it_never_line_rejects(tmp_path, shape, body, says):
    path = tmp_path / "ultrachat_release_230407.json"
    path.write_bytes(body)
    with pytest.raises(DataFileError, match=f"ultrachat_release_230407.json.*{says}"):
        read_all(path)


def test_a_first_line_that_is_a_bad_array_is_still_a_line_reject(tmp_path):
    # Not a JSON array file: one defective line, then dialogues.
    rows, rejects, _ = read_all(write_lines(tmp_path / "f.json", ['["a", "b"]', GOOD, GOOD]))
    assert reasons_by_line(rejects) == {1: "not_an_object"} and len(rows) == 2


def test_a_damaged_gzip_file_is_an_error_naming_the_file(tmp_path):
    body = gzip.compress(b"\n".join(json.dumps(GOOD).encode() for _ in range(2000)))
    path = tmp_path / "train_0.jsonl"
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(DataFileError, match="train_0.jsonl.*download it again"):
        read_all(path)


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataFileError, match="nope.json"):
        read_all(tmp_path / "nope.json")


def test_a_gzip_bomb_is_refused_not_expanded(tmp_path):
    path = tmp_path / "ultrachat_release_230407.json"
    path.write_bytes(gzip.compress(b" " * (64 << 20)))  # 64 MB of spaces in ~64 KB
    with pytest.raises(DataFileError, match="expands more than 100x"):
        read_all(path, block_bytes=1 << 20)


# Bytes that look like UTF-8 often: lead bytes, continuation bytes, surrogates, overlong forms.
_UTF8_LIKE = st.lists(st.sampled_from([b"a", b"\n", b"\x80", b"\xbf", b"\xc0", b"\xc2", b"\xdf",
                                       b"\xe0", b"\xed", b"\xa0", b"\xef", b"\xf0", b"\xf4", b"\x90",
                                       b"\xf5", b"\xff", "é".encode(), "€".encode(), "😀".encode()]),
                      max_size=12).map(b"".join)


@given(st.one_of(st.binary(max_size=32), _UTF8_LIKE,
                 st.text().map(lambda text: text.encode("utf-8", "surrogatepass"))))
def test_utf8_check_agrees_with_pythons_strict_decoder(data):
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert is_valid_utf8(data) == expected
    assert is_valid_utf8(memoryview(b"x" + data)[1:]) == expected  # a slice of a block, as read
