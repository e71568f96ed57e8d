"""Nothing is lost in reading and validation: lines read == rows kept + rows rejected, per file.

The property test corrupts files at random and compares the reader (fast path plus fallback)
with a plain line-by-line reference built on `json.loads`.
"""

import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REJECTED_AS
from ultrachat_dataset.errors import DataFileError
from ultrachat_dataset.rejects import Report
from ultrachat_dataset.release.file_shape import HEAD_BYTES, describe_head
from ultrachat_dataset.release.read import READ_REASONS, read_file
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.stages.reading import read_validated
from ultrachat_dataset.stages.validate import Validate


def run(inputs, **options):
    report = Report()
    for rows in read_validated(inputs, report, progress=False, **options):
        for source, count in zip(*np.unique(rows.column("source").to_numpy(zero_copy_only=False),
                                            return_counts=True)):
            report.file(source).kept += int(count)
    return report


def test_every_defect_is_counted_under_its_reason_in_every_file(defect_corpus):
    manifest = json.loads((defect_corpus / "manifest.json").read_text())
    report = run(local_inputs("all", defect_corpus))
    report.check()
    assert set(report.files) == set(manifest["files"])
    for name, expected in manifest["files"].items():
        counts = report.files[name]
        assert counts.lines == expected["lines"]
        assert counts.lines == counts.kept + sum(counts.rejected.values())
        wanted = Counter({reason: expected.get(kind, 0) for kind, reason in REJECTED_AS.items()})
        assert +counts.rejected == +wanted, name
        assert counts.repaired["id_number_to_string"] == expected.get("numeric_id", 0)
        assert counts.repaired["trimmed_dangling_turn"] == expected.get("odd_turns", 0)
    totals = report.as_dict()
    assert totals["lines"] == totals["kept"] + sum(totals["rejected"].values())


def test_report_totals_are_the_sum_of_the_files(defect_corpus):
    report = run(local_inputs("writing", defect_corpus)).as_dict()
    assert set(report["files"]) == {"ultrachat_material_release_230412.json",
                                    "ultrachat_material_release_230417.json"}
    for key in ("lines", "kept"):
        assert report[key] == sum(f[key] for f in report["files"].values())


# ---- the property: a reference reader, one line at a time, with no fast path ----------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def reference_read(body: bytes) -> tuple[list, dict[int, str]]:
    """(kept (line, id, data), {line: reason}) by json.loads per line, then the schema rules."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # a final newline ends the last line; it does not start a new one
    kept, reasons = [], {}
    for number, raw in enumerate(lines, start=1):
        last_unterminated = number == len(lines) and not body.endswith(b"\n")
        reason, row = reference_line(raw, last_unterminated)
        if reason:
            reasons[number] = reason
        else:
            kept.append((number, *row))
    return kept, reasons


def reference_line(raw: bytes, last_unterminated: bool):
    if not raw.strip():
        return "blank_line", None
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return ("truncated_line" if last_unterminated else "invalid_json"), None
    except RecursionError:
        return "json_too_deep", None
    if not isinstance(record, dict):
        return "not_an_object", None
    row_id, data = record.get("id"), record.get("data")
    if isinstance(row_id, (bool, list, dict)):
        return "bad_id", None
    if isinstance(row_id, (int, float)):
        row_id = str(row_id)
    if data is not None and not isinstance(data, list):
        return "data_not_list", None
    if data is not None and any(not isinstance(turn, str) for turn in data):
        return "turn_not_string", None
    if any(_SURROGATE.search(s) for s in (data or []) + [row_id or ""]):
        return "lone_surrogate", None
    if row_id is None or not row_id.strip():
        return "missing_id", None
    if data is None:
        return "data_missing", None
    if len(data) % 2:
        data = data[:-1]
    if len(data) < 2:
        return "no_exchange", None
    if any(not turn.strip() for turn in data):
        return "empty_turn", None
    return None, (row_id, data)


CLEAN_LINES = [json.dumps({"id": str(i), "data": [f"question {i} é", f"answer {i} \u2019s",
                                                   "more?", "yes."][: 2 + 2 * (i % 2)]},
                          ensure_ascii=i % 3 == 0).encode() for i in range(60)]
SNIPPETS = [b"", b" ", b"\r", b"\n", b"\n\n", b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\",
            b"\xff", b"\xc3", b"\\ud800", b"\\udc00", b"null", b"5", b"true", b'"id"', b'"data"',
            b"\x00", b"\t", b"\xef\xbb\xbf", b'{"id": "x", "data": ["a", "b"]}', b"NaN"]


@st.composite
def corrupted_files(draw):
    lines = list(draw(st.lists(st.sampled_from(CLEAN_LINES), min_size=0, max_size=60)))
    body = bytearray(b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\r\n"])))
    for _ in range(draw(st.integers(0, 8))):
        where = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["insert", "delete", "truncate"]))
        if action == "insert":
            body[where:where] = draw(st.sampled_from(SNIPPETS))
        elif action == "delete":
            del body[where:where + draw(st.integers(1, 20))]
        else:
            del body[where:]
    if draw(st.booleans()):
        body = bytearray(b"\xef\xbb\xbf") + body
    return bytes(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=corrupted_files(), block_bytes=st.sampled_from([7, 64, 500, 1 << 20]))
def test_reader_agrees_with_a_line_by_line_reference_on_corrupted_files(tmp_path, body, block_bytes):
    path = tmp_path / "f.json"
    path.write_bytes(body)
    expected_kept, expected_reasons = reference_read(body)
    parsed = [line for line, reason in expected_reasons.items() if reason in Validate.reasons]
    not_blank = [line for line, reason in expected_reasons.items() if reason != "blank_line"]
    if describe_head(body[:HEAD_BYTES]) or (not_blank and not (expected_kept or parsed)):
        # The file as a whole is not JSON Lines (or no line of it is an object): one error.
        with pytest.raises(DataFileError, match="f.json"):
            list(read_file(path, block_bytes=block_bytes))
        assert describe_head(body[:HEAD_BYTES]) or set(expected_reasons.values()) <= {
            "blank_line"} | set(READ_REASONS)
        return
    kept, reasons, lines = [], {}, 0
    for batch in read_file(path, block_bytes=block_bytes):
        lines += batch.lines
        checked = Validate().apply(batch.rows)
        for table in (batch.rejects, checked.rejects):
            reasons.update(zip(table.column("line").to_pylist(), table.column("reason").to_pylist()))
        kept += [(r["line"], r["id"], r["data"]) for r in checked.rows.to_pylist()]
    assert lines == len(expected_kept) + len(expected_reasons)  # the accounting invariant
    assert lines == len(kept) + len(reasons)
    assert kept == expected_kept
    assert reasons == expected_reasons


def test_rejects_held_when_a_run_fails_are_not_written_and_the_first_error_surfaces(tmp_path, monkeypatch):
    """Rejects are held until a row group's worth. A run that fails (Ctrl-C, an error) is
    discarded whole: the writer must not write what it holds then, and a write that would fail
    too (a full disk) must not replace the error that stopped the run."""
    import pyarrow.parquet as pq

    from ultrachat_dataset.rejects import RejectWriter, rejects_from_records

    held = rejects_from_records([{"source": "f", "line": 1, "stage": "read", "reason": "blank_line"}])
    path = tmp_path / "rejects.parquet"

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    with pytest.raises(KeyboardInterrupt), RejectWriter(path) as writer:
        writer.write(held)
        monkeypatch.setattr(writer._writer, "write_table", full_disk)
        raise KeyboardInterrupt
    assert pq.read_table(path).num_rows == 0
    with RejectWriter(path) as writer:  # a run that ends well writes what it held
        writer.write(held)
    assert pq.read_table(path).num_rows == 1
