"""Schema rules over parsed rows, in vectors: which rows become dialogues, and why the rest do not.

A row failing several rules is rejected for the first of `VALIDATE_REASONS` (in that order).
Odd-length `data` (a dangling user turn with no answer) follows `odd_turns`:
- "trim" (default, as LLaMA-Factory does): drop the dangling last turn, keep the row, and count the
  repair `trimmed_dangling_turn`;
- "reject": reject the row as `odd_turns`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .read import READ_REASONS
from .rejects import rejects_from_rows

VALIDATE_REASONS = {
    "missing_id": "`id` is absent, null or empty",
    "data_missing": "`data` is absent or null",
    "turn_not_string": READ_REASONS["turn_not_string"],
    "odd_turns": "`data` ends with a user turn that has no answer (odd_turns='reject')",
    "no_exchange": "fewer than one user + assistant exchange",
    "empty_turn": "a turn is empty or only white space",
}
VALIDATE_REPAIRS = {
    "trimmed_dangling_turn": "a dangling last user turn was dropped (odd_turns='trim')",
}
ODD_TURN_POLICIES = ("trim", "reject")


@dataclass
class Validated:
    rows: pa.Table
    rejects: pa.Table
    repairs: Counter


def validate(rows: pa.Table, odd_turns: str = "trim") -> Validated:
    """Split parsed rows into valid dialogues (even length >= 2, no empty turn) and rejects."""
    if odd_turns not in ODD_TURN_POLICIES:
        raise ConfigError(f"unknown odd_turns policy {odd_turns!r}: choose 'trim' or 'reject'")
    rows = rows.combine_chunks()
    count = rows.num_rows
    data = pa.concat_arrays(rows.column("data").chunks) if rows.num_rows else pa.array(
        [], rows.schema.field("data").type)
    turns, owner, position, lengths = _turn_layout(data)
    odd = lengths % 2 == 1
    trim = odd & (odd_turns == "trim")
    # Turn-level checks see every turn but a dangling one that will be trimmed.
    dangling = trim[owner] & (position == lengths[owner] - 1)
    null_turn = _any_per_row(pc.is_null(turns).to_numpy(zero_copy_only=False) & ~dangling,
                             owner, count)
    stripped_length = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(turns)), 1)
    empty_turn = _any_per_row((stripped_length.to_numpy(zero_copy_only=False) == 0) & ~dangling,
                              owner, count)
    row_id = rows.column("id")
    missing_id = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(row_id), ""), True)
    rules = [
        ("missing_id", missing_id.to_numpy(zero_copy_only=False)),
        ("data_missing", pc.is_null(data).to_numpy(zero_copy_only=False)),
        ("turn_not_string", null_turn),
        ("odd_turns", odd & (odd_turns == "reject")),
        ("no_exchange", lengths - trim < 2),
        ("empty_turn", empty_turn),
    ]
    first_failed = np.zeros(count, np.int8)  # 0: passes; k: failed rule k-1 first
    for number, (_, failed) in enumerate(rules, start=1):
        first_failed[failed & (first_failed == 0)] = number
    rejected = first_failed > 0
    codes = np.array([code for code, _ in rules], dtype=object)
    reasons = codes[first_failed[rejected] - 1].tolist()
    kept = rows.filter(pa.array(~rejected))
    trimmed = trim & ~rejected
    if trimmed.any():
        kept = kept.set_column(kept.schema.get_field_index("data"), "data",
                               _drop_last_turn(data.filter(pa.array(~rejected)),
                                               trimmed[~rejected]))
    rejects = rejects_from_rows(rows.filter(pa.array(rejected)), "validate",
                                pa.array(reasons, pa.string()))
    repairs = Counter({"trimmed_dangling_turn": int(trimmed.sum())} if trimmed.any() else {})
    return Validated(kept, rejects, repairs)


def _any_per_row(turn_flags: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    return np.bincount(owner[turn_flags], minlength=count)[:count] > 0


def _drop_last_turn(data: pa.ListArray, trim: np.ndarray) -> pa.ListArray:
    """The same lists with the last turn removed where `trim` is set (offsets rebuilt)."""
    turns, owner, position, lengths = _turn_layout(data)
    lengths = lengths - trim
    keep = position < lengths[owner]
    new_offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(new_offsets), turns.filter(pa.array(keep)))


def _turn_layout(data: pa.ListArray) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """All turns flat, the row each belongs to, its position in that row, and row lengths."""
    lengths = pc.fill_null(pc.list_value_length(data), 0).to_numpy(zero_copy_only=False)
    turns = pc.list_flatten(data)
    owner = pc.list_parent_indices(data).to_numpy(zero_copy_only=False)
    row_start = np.cumsum(lengths) - lengths
    position = np.arange(len(turns)) - row_start[owner]
    return turns, owner, position, lengths
