"""Schema rules over parsed rows, in vectors: which rows become dialogues, and why the rest do not.

A row failing several rules is rejected for the first of `VALIDATE_REASONS` (in that order).
Odd-length `data` (a dangling user turn with no answer) follows `odd_turns`:
- "trim" (default, as LLaMA-Factory does): drop the dangling last turn, keep the row, and count the
  repair `trimmed_dangling_turn`;
- "reject": reject the row as `odd_turns`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..names import ODD_TURN_POLICIES  # noqa: F401  (re-exported)
from ..progress import progress_bar
from ..rejects import Report, rejects_from_rows
from ..release.read import LineBlock, ReadBatch, ReleaseCheck, line_blocks
from ..release.sources import InputFile
from ..turns import TurnLayout, flags, is_blank, rows_where, set_data


@dataclass
class Validated:
    rows: pa.Table
    rejects: pa.Table
    repairs: Counter


def validate(rows: pa.Table, odd_turns: str = "trim") -> Validated:
    """Split parsed rows into valid dialogues (even length >= 2, no empty turn) and rejects."""
    if odd_turns not in ODD_TURN_POLICIES:
        raise ConfigError(f"unknown odd_turns policy {odd_turns!r}: choose 'trim' or 'reject'")
    layout = TurnLayout.of(rows.column("data"))
    lengths = layout.lengths
    odd = lengths % 2 == 1
    trim = odd & (odd_turns == "trim")
    # Turn-level checks see every turn but a dangling one that will be trimmed.
    dangling = trim[layout.owner] & (layout.position == lengths[layout.owner] - 1)
    null_turn = flags(pc.is_null(layout.turns)) & ~dangling
    blank_turn = is_blank(layout.turns) & ~dangling
    rules = [
        ("missing_id", ~flags(pc.not_equal(pc.utf8_trim_whitespace(rows.column("id")), ""))),
        ("data_missing", flags(pc.is_null(rows.column("data")))),
        ("turn_not_string", layout.any_per_row(null_turn)),
        ("odd_turns", odd & (odd_turns == "reject")),
        ("no_exchange", lengths - trim < 2),
        ("empty_turn", layout.any_per_row(blank_turn)),
    ]
    first_failed = np.zeros(rows.num_rows, np.int8)  # 0: passes; k: failed rule k-1 first
    for number, (_, failed) in enumerate(rules, start=1):
        first_failed[failed & (first_failed == 0)] = number
    rejected = first_failed > 0
    codes = np.array([code for code, _ in rules], dtype=object)
    reasons = codes[first_failed[rejected] - 1].tolist()
    kept = rows_where(rows, ~rejected)
    trimmed = trim & ~rejected
    if trimmed.any():
        kept_turns = ~rejected[layout.owner]
        kept = set_data(kept, TurnLayout.of(kept.column("data")).rebuild(keep=~dangling[kept_turns]))
    details = _details(reasons, rows.column("id").is_null().to_numpy(zero_copy_only=False)[rejected],
                       lengths[rejected], layout.first_flagged(null_turn)[rejected],
                       layout.first_flagged(blank_turn)[rejected])
    rejects = rejects_from_rows(rows.filter(pa.array(rejected)), "validate",
                                pa.array(reasons, pa.string()), details)
    repairs = Counter({"trimmed_dangling_turn": int(trimmed.sum())} if trimmed.any() else {})
    return Validated(kept, rejects, repairs)


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


@dataclass
class Block:
    """What read and validation made of one block of one file, and what the report counts of it."""

    source: str
    rows: pa.Table
    rejects: pa.Table  # read's, then validation's
    lines: int
    repairs: Counter
    read: ReadBatch
    raw: LineBlock


def input_bytes(inputs: list[InputFile]) -> int:
    """The bytes `raw_blocks` reports through `on_progress` in all (on disk: gzip compressed)."""
    return sum(item.path.stat().st_size for item in inputs)


def raw_blocks(inputs: list[InputFile], *, progress: bool = True,
               on_progress: Callable[[int], None] | None = None) -> Iterator[LineBlock]:
    """Every input's blocks of whole lines, unparsed (cheap: the caller may parse elsewhere).
    `on_progress` gets the bytes read from disk as they are read (else a "reading" bar)."""
    if on_progress is not None:
        for item in inputs:
            yield from line_blocks(item.path, sector=item.sector, source=item.source,
                                   on_progress=on_progress)
        return
    with progress_bar(progress, total=input_bytes(inputs), unit="B", unit_scale=True, desc="reading") as bar:
        yield from raw_blocks(inputs, on_progress=bar.update)


def parse_and_validate(raw: LineBlock, odd_turns: str = "trim") -> Block:
    """One block parsed and validated (pure: runs on a worker thread)."""
    batch = raw.parse()
    checked = validate(batch.rows, odd_turns=odd_turns)
    return Block(raw.source, checked.rows, pa.concat_tables([batch.rejects, checked.rejects]),
                 batch.lines, batch.repairs + checked.repairs, batch, raw)


class ReadAccounts:
    """Counts read blocks into the report, in release order: lines, rejects, repairs; and raises
    when a whole file is not a release file. Kept rows are not counted here: the caller counts
    what it finally keeps."""

    def __init__(self, inputs: list[InputFile], report: Report):
        self.report = report
        self._check = ReleaseCheck()
        for item in inputs:  # a file with no line still appears in the report
            report.file(item.source)

    def add(self, block: Block) -> None:
        self._check.add(block.raw, block.read)
        self.report.add_lines(block.source, block.lines)
        self.report.add_repairs(block.source, block.repairs)
        self.report.add_rejects(block.rejects)


def read_validated(inputs: list[InputFile], report: Report, *, odd_turns: str = "trim",
                   progress: bool = True) -> Iterator[Block]:
    """Valid rows and rejects block by block over every input, counted into `report`."""
    accounts = ReadAccounts(inputs, report)
    for raw in raw_blocks(inputs, progress=progress):
        block = parse_and_validate(raw, odd_turns)
        accounts.add(block)
        yield block
