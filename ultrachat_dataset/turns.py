"""Vector helpers over the `data` column (a list of turns per row), shared by the stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class TurnLayout:
    """Every turn flat, with the row it belongs to, its position in that row, and row lengths."""

    turns: pa.Array
    owner: np.ndarray
    position: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, data: pa.Array | pa.ChunkedArray) -> TurnLayout:
        data = one_array(data)
        lengths = pc.fill_null(pc.list_value_length(data), 0).to_numpy(zero_copy_only=False)
        turns = pc.list_flatten(data)
        owner = pc.list_parent_indices(data).to_numpy(zero_copy_only=False)
        row_start = np.cumsum(lengths) - lengths
        position = np.arange(len(turns)) - row_start[owner]
        return cls(turns, owner, position, lengths)

    @property
    def is_user(self) -> np.ndarray:
        return self.position % 2 == 0

    def any_per_row(self, turn_flags: np.ndarray) -> np.ndarray:
        """Rows where at least one turn is flagged."""
        return np.bincount(self.owner[turn_flags], minlength=len(self.lengths)) > 0

    def first_flagged(self, turn_flags: np.ndarray) -> np.ndarray:
        """Per row, the position of its first flagged turn, or -1."""
        first = np.full(len(self.lengths), len(self.position) + 1, np.int64)
        np.minimum.at(first, self.owner[turn_flags], self.position[turn_flags])
        first[first > len(self.position)] = -1
        return first

    def rebuild(self, turns: pa.Array | None = None, keep: np.ndarray | None = None) -> pa.ListArray:
        """Lists again, from (possibly replaced) turns, keeping only the turns where `keep`."""
        turns = self.turns if turns is None else turns
        lengths = self.lengths
        if keep is not None:
            lengths = np.bincount(self.owner[keep], minlength=len(self.lengths))
            turns = turns.filter(pa.array(keep))
        return lists_of(lengths, turns)


def lists_of(lengths: np.ndarray, turns: pa.Array) -> pa.ListArray:
    """Turns in order cut into lists of these lengths."""
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), turns)


def one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array: its only chunk as it is (no copy), or its chunks joined."""
    if not isinstance(column, pa.ChunkedArray):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)


def flags(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def matches(texts: pa.Array, pattern: str) -> np.ndarray:
    """Which texts contain a match of `pattern` (Rust `regex` syntax; nulls: no). polars' engine,
    whose literal prefilters run ~10x faster than Arrow's RE2 on long turns. Write `(?-u:\\b)`
    for an ASCII word boundary, as RE2's `\\b` is."""
    found = pl.from_arrow(texts).str.contains(pattern)
    # Each polars call costs ~0.15 ms of CPU whatever its size: nulls are filled only if any.
    return (found.fill_null(False) if found.null_count() else found).to_numpy()


_MOST_SLICES = 64  # beyond this, slicing costs more than copying a block's rows


def rows_where(rows: pa.Table, keep: np.ndarray, most_slices: int = _MOST_SLICES) -> pa.Table:
    """The rows where `keep` is true: the table itself when all are, slices of it (no copy of
    its text) when a few rows here and there are dropped, else a filtered copy.

    Slices hold the whole table's buffers, so they are taken only when most rows stay: a
    small pick from a large table is copied, and the table can be freed. `most_slices`: how
    many runs of kept rows at most (stages that read the rows after: `_MOST_SLICES`)."""
    if keep.all():
        return rows
    edges = np.flatnonzero(np.diff(keep.astype(np.int8), prepend=0, append=0))
    starts, ends = edges[::2], edges[1::2]
    if 0 < len(starts) <= most_slices and 2 * (ends - starts).sum() >= len(keep):
        return pa.concat_tables([rows.slice(start, end - start) for start, end in zip(starts, ends)])
    return rows.filter(pa.array(keep))


def add_flag(rows: pa.Table, flagged: np.ndarray, flag: str) -> pa.Table:
    """The rows with `flag` added to the `flags` list of those `flagged` (the column made when
    the first flag is given): what a stage noticed in a row it keeps."""
    if not flagged.any():
        return rows
    current = (rows.column("flags").to_pylist() if "flags" in rows.column_names
               else [[] for _ in range(rows.num_rows)])
    for row in np.flatnonzero(flagged).tolist():
        current[row] = [*current[row], flag]
    column = pa.array(current, pa.list_(pa.string()))
    if "flags" in rows.column_names:
        return rows.set_column(rows.schema.get_field_index("flags"), "flags", column)
    return rows.append_column("flags", column)


def set_data(rows: pa.Table, data: pa.Array) -> pa.Table:
    return rows.set_column(rows.schema.get_field_index("data"), "data", data)


# White space and the characters that show nothing: format characters (zero-width space and
# joiners, word joiner, BOM, soft hyphen, bidi marks, ...) and the Hangul fillers.
_INVISIBLE_ONLY = r"^[\s\p{Z}\p{Cf}\x{115F}\x{1160}\x{3164}\x{FFA0}]*$"


def is_blank(turns: pa.Array) -> np.ndarray:
    """Turns that show nothing: empty, white space, or invisible characters only (no copy of
    the text, unlike trimming). Only non-ASCII turns can hold invisible characters."""
    # Only a turn that starts with white space, a control or a non-ASCII byte can show nothing:
    # the rest (almost all) are decided by their first byte.
    offsets, data = string_buffers(turns)
    blank = offsets[1:] == offsets[:-1]
    first = data[offsets[:-1][~blank]]
    candidates = np.zeros(len(turns), bool)
    candidates[~blank] = (first <= 32) | (first >= 127)
    if candidates.any():
        picked = turns.filter(pa.array(candidates))
        blank[candidates] = flags(pc.utf8_is_space(picked)) | (
            ~flags(pc.string_is_ascii(picked))
            & flags(pc.match_substring_regex(picked, _INVISIBLE_ONLY)))
    if turns.null_count:
        blank &= flags(pc.is_valid(turns))
    return blank


def string_buffers(texts: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, UTF-8 bytes) of a string array, without copying the bytes."""
    offsets = np.frombuffer(texts.buffers()[1], np.int32)[texts.offset:texts.offset + len(texts) + 1]
    data = texts.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets.astype(np.int64) - offsets[0], data[offsets[0]:offsets[-1]]


def needs_trim(turns: pa.Array) -> np.ndarray:
    """Turns with white space at either end (what `utf8_trim_whitespace` would change)."""
    # Candidates from the bytes at both ends (a space, a control or a non-ASCII character), then
    # the exact test on the first and last character of those only.
    offsets, data = string_buffers(turns)
    candidates = offsets[1:] > offsets[:-1]
    starts, ends = offsets[:-1][candidates], offsets[1:][candidates]
    candidates[candidates] = ((data[starts] < 33) | (data[starts] > 126)
                              | (data[ends - 1] < 33) | (data[ends - 1] > 126))
    needs = np.zeros(len(turns), bool)
    if candidates.any():
        picked = turns.filter(pa.array(candidates))
        edges = pc.binary_join_element_wise(pc.utf8_slice_codeunits(picked, 0, 1),
                                            pc.utf8_slice_codeunits(picked, -1), "")
        needs[candidates] = flags(pc.match_substring_regex(edges, r"[\s\v\x{85}\x1c-\x1f\p{Z}]"))
    return needs


class TurnEdits:
    """A block's turns and the new text of the few that steps changed. Steps read the current
    text; the turns are copied once, by `result`: a copy per step cost a pass over all of the
    block's text and as much fresh memory, for a change to a turn in a hundred."""

    def __init__(self, turns: pa.Array):
        self.original = turns
        self.text: dict[int, str] = {}  # turn -> its text now

    def _edited(self) -> np.ndarray:
        return np.fromiter(sorted(self.text), np.int64, len(self.text))

    def _new_text(self, indices: np.ndarray) -> pa.Array:
        return pa.array([self.text[i] for i in indices.tolist()], self.original.type)

    def texts(self, indices: np.ndarray) -> pa.Array:
        """The text now of these turns."""
        taken = self.original.take(pa.array(indices, pa.int64()))
        edited = np.isin(indices, self._edited()) if self.text else np.zeros(len(indices), bool)
        if not edited.any():
            return taken
        return pc.replace_with_mask(taken, pa.array(edited), self._new_text(indices[edited]))

    def measure(self, of: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
        """`of` (texts -> a value each, e.g. a flag) over the text now of every turn: over the
        original turns in place, then again over the changed ones."""
        values = of(self.original)
        if self.text:
            values = np.array(values)  # a writable copy (Arrow's numpy views are read-only)
            edited = self._edited()
            values[edited] = of(self._new_text(edited))
        return values

    def apply(self, candidates: np.ndarray, fix: Callable[[pa.Array], list | pa.Array]) -> np.ndarray:
        """`fix` (texts -> their new texts) on the candidate turns' text now; which turns it
        changed."""
        changed = np.zeros(len(candidates), bool)
        indices = np.flatnonzero(candidates)
        if not len(indices):
            return changed
        before = self.texts(indices)
        after = fix(before)
        after = after.to_pylist() if isinstance(after, (pa.Array, pa.ChunkedArray)) else after
        for index, old, new in zip(indices.tolist(), before.to_pylist(), after):
            if old != new:
                self.text[index] = new
                changed[index] = True
        return changed

    def result(self, keep: np.ndarray | None = None) -> pa.Array:
        """The turns with their text now, only those where `keep`: one copy, none if no turn
        changed and all are kept."""
        if not self.text and (keep is None or keep.all()):
            return self.original
        edited = self._edited()
        source = np.arange(len(self.original))
        source[edited] = len(self.original) + np.arange(len(edited))  # the new texts follow
        order = source if keep is None else source[keep]
        both = pa.chunked_array([self.original, self._new_text(edited)], self.original.type)
        return one_array(both.take(pa.array(order)))


def opening_text(data: pa.Array | pa.ChunkedArray, chars: int, separator: str = "\n") -> pa.Array:
    """The first `chars` characters of each dialogue's turns joined by `separator`, joining only
    the turns that reach into them (the rest of a long dialogue is never copied, nor counted:
    a turn more than 4 x `chars` bytes into its dialogue is out, as a character takes at most 4)."""
    layout = TurnLayout.of(data)
    joint = len(separator)
    size = pc.fill_null(pc.binary_length(layout.turns), 0).to_numpy(zero_copy_only=False)
    maybe = _before_in_row(size + len(separator.encode()), layout) < 4 * (chars + joint)
    lengths = np.zeros(len(size), np.int64)
    lengths[maybe] = pc.fill_null(pc.utf8_length(layout.turns.filter(pa.array(maybe))), 0).to_numpy(
        zero_copy_only=False)
    # Exact for the turns that may count: every turn before one of them in its row is one too.
    starts_in_row = _before_in_row(lengths + joint, layout)
    # A turn counts if its separator starts within the opening (the cut below trims the rest).
    opening = layout.rebuild(keep=maybe & (starts_in_row - joint < chars))
    return pc.utf8_slice_codeunits(pc.binary_join(opening, separator), 0, chars)


def _before_in_row(lengths: np.ndarray, layout: TurnLayout) -> np.ndarray:
    """For each turn, the sum of `lengths` of the turns before it in its dialogue."""
    before = np.cumsum(lengths) - lengths  # corpus-wide...
    row_start = (np.cumsum(layout.lengths) - layout.lengths)[layout.owner]
    return before - before[row_start] if len(before) else before  # ...and within its row
