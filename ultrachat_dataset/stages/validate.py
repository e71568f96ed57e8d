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

from ..errors import ConfigError
from ..hashing import sha256_hex
from ..turns import TurnLayout, flags, is_blank, rows_where, set_data
from .stage import Stage, StageResult, option

ODD_TURN_POLICIES = ("trim", "reject")


@dataclass
class ValidateOptions:
    odd_turns: str = option("trim", "a dangling last user turn: trim it or reject the dialogue",
                            choices=ODD_TURN_POLICIES)

    def __post_init__(self):
        if self.odd_turns not in ODD_TURN_POLICIES:
            raise ConfigError(f"unknown odd_turns policy {self.odd_turns!r}: choose 'trim' or 'reject'")


class Validate(Stage):
    """Split parsed rows into valid dialogues (even length >= 2, no empty turn) and rejects."""

    name = "validate"
    summary = "schema rules: an id, turns that are text, at least one exchange, no empty turn"
    reasons = {
        "missing_id": "`id` is absent, null or empty",
        "data_missing": "`data` is absent or null",
        "turn_not_string": "a turn in `data` is not a string (null, a number, a list, ...)",
        "odd_turns": "`data` ends with a user turn that has no answer (odd_turns='reject')",
        "no_exchange": "fewer than one user + assistant exchange",
        "empty_turn": "a turn shows nothing: empty, white space or invisible characters only",
    }
    repairs = {"trimmed_dangling_turn": "a dangling last user turn was dropped (odd_turns='trim')"}
    Options = ValidateOptions

    def apply(self, rows: pa.Table) -> StageResult:
        layout = TurnLayout.of(rows.column("data"))
        lengths = layout.lengths
        odd = lengths % 2 == 1
        trim = odd & (self.options.odd_turns == "trim")
        # Turn-level checks see every turn but a dangling one that will be trimmed.
        dangling = trim[layout.owner] & (layout.position == lengths[layout.owner] - 1)
        null_turn = flags(pc.is_null(layout.turns)) & ~dangling
        blank_turn = is_blank(layout.turns) & ~dangling
        rules = {  # in the order of `reasons`: the first failed wins
            "missing_id": ~flags(pc.not_equal(pc.utf8_trim_whitespace(rows.column("id")), "")),
            "data_missing": flags(pc.is_null(rows.column("data"))),
            "turn_not_string": layout.any_per_row(null_turn),
            "odd_turns": odd & (self.options.odd_turns == "reject"),
            "no_exchange": lengths - trim < 2,
            "empty_turn": layout.any_per_row(blank_turn),
        }
        first_failed = np.zeros(rows.num_rows, np.int8)  # 0: passes; k: failed rule k-1 first
        for number, failed in enumerate(rules.values(), start=1):
            first_failed[failed & (first_failed == 0)] = number
        rejected = first_failed > 0
        reasons = np.array(list(rules), dtype=object)[first_failed[rejected] - 1].tolist()
        kept = rows_where(rows, ~rejected)
        trimmed = trim & ~rejected
        if trimmed.any():
            kept_turns = ~rejected[layout.owner]
            kept = set_data(kept, TurnLayout.of(kept.column("data")).rebuild(keep=~dangling[kept_turns]))
        details = _details(reasons, rows.column("id").is_null().to_numpy(zero_copy_only=False)[rejected],
                           lengths[rejected], layout.first_flagged(null_turn)[rejected],
                           layout.first_flagged(blank_turn)[rejected])
        rejects = self.rejected(rows, ~rejected, pa.array(reasons, pa.string()), details)
        repairs = Counter({"trimmed_dangling_turn": int(trimmed.sum())} if trimmed.any() else {})
        # ultrachat_200k's prompt_id: the sha256 of the opening turn as released, before any
        # repair, so that rows join with its rows whatever the later stages change.
        kept = kept.append_column("prompt_id", sha256_hex(pc.list_element(kept.column("data"), 0)))
        return StageResult(kept, ~rejected, rejects, repairs)


def _details(reasons: list[str], null_id: np.ndarray, lengths: np.ndarray, null_turn: np.ndarray,
             blank_turn: np.ndarray) -> list[str]:
    """What exactly failed, for each rejected row (turns counted from 0)."""
    described = {
        "missing_id": lambda i: "id is absent or null" if null_id[i] else "id is empty",
        "data_missing": lambda i: "data is absent or null",
        "turn_not_string": lambda i: f"turn {null_turn[i]} is null",
        "odd_turns": lambda i: f"{lengths[i]} turns",
        "no_exchange": lambda i: f"{lengths[i]} turn{'s' if lengths[i] != 1 else ''}",
        "empty_turn": lambda i: f"turn {blank_turn[i]} is empty or invisible",
    }
    return [described[reason](index) for index, reason in enumerate(reasons)]
