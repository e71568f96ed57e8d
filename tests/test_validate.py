"""Schema rules: each reason on its own, the first failing rule wins, odd lengths by policy."""

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.release.read import ROW_SCHEMA
from ultrachat_dataset.stages.validate import Validate, ValidateOptions


def validate(rows, odd_turns="trim"):
    return Validate(ValidateOptions(odd_turns)).apply(rows)


def rows(*items):
    return pa.Table.from_pylist(
        [{"id": row_id, "data": data, "sector": "world", "source": "f.json", "line": n}
         for n, (row_id, data) in enumerate(items, start=1)], schema=ROW_SCHEMA)


@pytest.mark.parametrize("row_id, data, reason", [
    (None, ["q", "a"], "missing_id"),
    ("  ", ["q", "a"], "missing_id"),
    ("1", None, "data_missing"),
    ("1", ["q", None], "turn_not_string"),
    ("1", [], "no_exchange"),
    ("1", ["only a question"], "no_exchange"),
    ("1", ["q", "  \n"], "empty_turn"),
    ("1", ["", "a"], "empty_turn"),
    ("1", ["q", "a", "\t", "b"], "empty_turn"),
    ("1", ["q", "\u200b\u200d\u2060"], "empty_turn"),  # zero-width space, joiner, word joiner
    ("1", ["\ufeff \u00ad\u3164", "a"], "empty_turn"),  # BOM, soft hyphen, Hangul filler
    # zero-width characters mixed with U+180E, a no-break space, an ideographic space, newlines
    ("1", ["q", "\u200b\u180e\u00a0\u3000\n\u200d\n"], "empty_turn"),
])
def test_each_rule_rejects_with_its_reason(row_id, data, reason):
    result = validate(rows(("ok", ["q", "a"]), (row_id, data)))
    assert result.rows.column("id").to_pylist() == ["ok"]
    assert result.rejects.column("reason").to_pylist() == [reason]
    assert result.rejects.column("line").to_pylist() == [2]
    assert result.rejects.column("stage").to_pylist() == ["validate"]


def test_first_failing_rule_wins():
    result = validate(rows((None, ["", "a"]), ("1", ["q", None, ""])))
    assert result.rejects.column("reason").to_pylist() == ["missing_id", "turn_not_string"]


def test_odd_length_is_trimmed_by_default_and_counted():
    result = validate(rows(("1", ["q", "a", "dangling"]), ("2", ["q", "a", "q2", "a2"])))
    assert result.rows.column("data").to_pylist() == [["q", "a"], ["q", "a", "q2", "a2"]]
    assert result.repairs == {"trimmed_dangling_turn": 1}
    assert result.rejects.num_rows == 0


def test_an_empty_or_null_dangling_turn_does_not_reject_the_row_it_is_trimmed_from():
    result = validate(rows(("1", ["q", "a", "  "]), ("2", ["q", "a", None])))
    assert result.rows.column("data").to_pylist() == [["q", "a"], ["q", "a"]]


def test_odd_length_rejected_when_asked():
    result = validate(rows(("1", ["q", "a", "dangling"])), odd_turns="reject")
    assert result.rows.num_rows == 0
    assert result.rejects.column("reason").to_pylist() == ["odd_turns"]


def test_reject_raw_is_the_row_as_release_json():
    result = validate(rows(("1", ["q", ""])))
    assert result.rejects.column("raw").to_pylist() == ['{"id": "1", "data": ["q", ""]}']


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ConfigError, match="odd_turns.*'trim' or 'reject'"):
        validate(rows(("1", ["q", "a"])), odd_turns="drop")


def test_empty_input():
    result = validate(ROW_SCHEMA.empty_table())
    assert result.rows.num_rows == 0 and result.rejects.num_rows == 0


def test_a_turn_with_visible_text_among_invisible_characters_is_kept():
    result = validate(rows(("1", ["q\u200b", "\u200ba\u200d"]), ("2", ["日本\u200b", "はい"])))
    assert result.rows.num_rows == 2 and result.rejects.num_rows == 0


def test_every_reject_says_what_exactly_failed():
    result = validate(rows((None, ["q", "a"]), ("1", ["q", None]), ("2", ["q"]), ("3", ["q", "a", "x", " "])))
    assert result.rejects.column("detail").to_pylist() == [
        "id is absent or null", "turn 1 is null", "1 turn", "turn 3 is empty or invisible"]


# Characters that show nothing on their own: white space of every kind, format characters, fillers.
INVISIBLE = ("\t\n\r \u00a0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
             "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u2066\u2069\u115f\u1160\u3164\uffa0")


@given(st.text(alphabet=INVISIBLE, min_size=1, max_size=12),
       st.text(alphabet="abcxyz日本éß0", min_size=1, max_size=3))
def test_a_turn_of_invisible_characters_in_any_mix_is_empty_and_one_visible_letter_keeps_it(blank, seen):
    result = validate(rows(("1", ["q", blank]), ("2", ["q", blank + seen + blank])))
    assert result.rejects.column("reason").to_pylist() == ["empty_turn"]
    assert result.rows.column("id").to_pylist() == ["2"]
