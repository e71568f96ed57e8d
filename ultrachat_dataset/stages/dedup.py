"""Duplicates across the whole corpus: exact, by opening turn, and near (MinHash LSH).

Keys are computed block by block (`compute_keys`, on the workers) and decided block by block in
release order (`Deduplicator.decide`, files in registry order, lines in file order) against all
keys seen before, so the first occurrence always survives and every duplicate names the
dialogue it duplicates.

- exact: all turns equal after normalisation (lower case; white space and punctuation removed).
- opener (off by default): the first user turn equal after the same normalisation.
- near: MinHash LSH over word 5-grams of the first `near_chars` characters of the dialogue
  (normalised), with one-permutation hashing (112 bins, rotation densification) and 14 bands of
  8 rows, as datatrove/FineWeb use: pairs above ~0.75 Jaccard are found with high probability,
  pairs below ~0.6 rarely. Reading a prefix, not the whole text, keeps this linear and cheap;
  regenerated answers to one prompt share their opening, which is what this catches. Texts with
  fewer shingles than bins (under ~115 words) are too short for a reliable estimate: only exact
  dedup applies to them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import ConfigError
from ..hashing import mix64
from ..rejects import rejects_from_rows
from ..turns import TurnLayout, one_array, opening_text, rows_where, string_buffers
from .normalize import (
    FOLD_CLASS,
    FOLD_LOWER,
    KEEP_BYTE,
    LOWER_BYTE,
    NOT_BREAK_BYTE,
    normalized_hashes,
    normalized_words,
    plain_strings,
    regex_normalized,
)
from .stage import Stage, StageResult, option

DEDUP_MODES = {
    "exact": "drop dialogues equal to an earlier one after normalisation (case, space, punctuation)",
    "near": ("drop dialogues whose opening characters (near_chars) nearly equal an earlier "
             "one's (MinHash LSH)"),
    "opener": "drop dialogues whose first user turn equals an earlier one's (normalised)",
}
DEFAULT_DEDUP = ("exact", "near")

_REASON_CODES = (None, "exact_duplicate", "near_duplicate", "duplicate_opener")
_U64 = np.uint64
_MIX = _U64(0x9E3779B97F4A7C15)
_NO_SHINGLE = _U64(0xFFFFFFFFFFFFFFFF)
_FNV_OFFSET = _U64(0xCBF29CE484222325)  # FNV-1a 64's specified offset basis and prime
_FNV_PRIME = _U64(0x100000001B3)


@dataclass
class DedupOptions:
    modes: tuple[str, ...] = option(DEFAULT_DEDUP, "dedup modes, or none; " + "; ".join(
        f"{name}: {meaning}" for name, meaning in DEDUP_MODES.items()), name="dedup",
        choices=tuple(DEDUP_MODES))
    near_chars: int = option(2000, "characters of each dialogue that near dedup compares")
    shingle_words: int = option(5, "near dedup: words a shingle")
    bands: int = option(14, "near dedup: LSH bands (more: finds less similar pairs)")
    rows_per_band: int = option(8, "near dedup: MinHash values a band (more: finds only closer pairs)")

    def __post_init__(self):
        unknown = [mode for mode in self.modes if mode not in DEDUP_MODES]
        if unknown:
            raise ConfigError(f"unknown dedup mode {', '.join(unknown)}: choose from "
                              f"{', '.join(DEDUP_MODES)} (or none)")
        for name, least in (("near_chars", 0), ("shingle_words", 1), ("bands", 1), ("rows_per_band", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} {getattr(self, name)}: give {least} or more")


class Dedup(Stage):
    """Decides each block in release order against every dialogue kept before it; a duplicate's
    reject names the row it duplicates (`duplicate_of_source`, `_line`, `_id`)."""

    name = "dedup"
    summary = "drops exact and near duplicates of an earlier dialogue (and, asked, repeated openers)"
    reasons = {
        "exact_duplicate": "equal to an earlier dialogue after normalisation (NFKC, case, punctuation)",
        "near_duplicate": "nearly equal to an earlier dialogue (MinHash LSH)",
        "duplicate_opener": "its first user turn equals an earlier dialogue's",
    }
    Options = DedupOptions
    ordered = True

    def __init__(self, options=None):
        super().__init__(options)
        self._deduplicator = Deduplicator(self.options)
        self._names = _RowNames()

    @property
    def enabled(self) -> bool:
        return bool(self.options.modes)

    def keys(self, rows: pa.Table) -> KeyPart:
        return compute_keys(rows, self.options)

    def decide(self, rows: pa.Table, keys: KeyPart) -> StageResult:
        decision = self._deduplicator.decide(keys)
        self._names.add(rows)
        kept = decision.kept
        if kept.all():
            return StageResult(rows, kept, rejects_from_rows(rows.slice(0, 0), self.name, ""))
        targets = self._names.find(decision.duplicate_of[~kept])
        details = [f"duplicate of {row['source']} line {row['line']} (id {row['id']})"
                   for row in targets.to_pylist()]
        rejects = rejects_from_rows(rows.filter(pa.array(~kept)), self.name,
                                    pa.array([reason for reason in decision.reasons if reason], pa.string()),
                                    details, duplicate_of=targets)
        # Slices of the block however many: the pipeline writes the kept rows from the block's
        # prepared rows, and only counts these (a copy cost ~1 s of a 200k run with duplicates).
        return StageResult(rows_where(rows, kept, most_slices=len(kept)), kept, rejects)


class _RowNames:
    """Source, line and id of every row decided so far, so a duplicate can name the row it
    duplicates (~30 bytes a dialogue)."""

    def __init__(self):
        self._blocks: list[pa.Table] = []
        self._starts: list[int] = []
        self._rows = 0

    def add(self, rows: pa.Table) -> None:
        self._starts.append(self._rows)
        self._blocks.append(rows.select(["source", "line", "id"]).combine_chunks())
        self._rows += rows.num_rows

    def find(self, targets: np.ndarray) -> pa.Table:
        """Source, line and id of each row number (duplicates are few: one slice each)."""
        found = []
        for target in targets.tolist():
            block = bisect.bisect_right(self._starts, target) - 1
            found.append(self._blocks[block].slice(target - self._starts[block], 1))
        return pa.concat_tables(found)


def normalized_turn_hashes(turns: pa.Array) -> np.ndarray:
    return normalized_hashes(turns, seed=7)


def dialogue_hashes(layout: TurnLayout, turn_hashes: np.ndarray) -> np.ndarray:
    """One hash per dialogue from its turn hashes, order-sensitive (reduceat over contiguous rows)."""
    with np.errstate(over="ignore"):
        weighted = mix64(turn_hashes ^ mix64(layout.position))
    starts = np.cumsum(layout.lengths) - layout.lengths
    sums = np.add.reduceat(weighted, starts) if len(weighted) else np.zeros(0, _U64)
    return mix64(sums ^ layout.lengths.astype(_U64))


def word_shingles(texts: pa.Array, words_per_shingle: int) -> pl.DataFrame:
    """(doc, shingle hash) for every run of `words_per_shingle` words of each (normalised) text."""
    doc, word = normalized_words(texts, seed=11)
    n = words_per_shingle
    count = max(len(word) - n + 1, 0)
    shingle = np.zeros(count, _U64)
    with np.errstate(over="ignore"):
        for k in range(n):  # order-sensitive: each position gets its own multiplier
            shingle += word[k:k + count] * mix64(np.array([k]))[0]
    whole = doc[:count] == doc[n - 1:n - 1 + count]  # the n words belong to one text
    return pl.DataFrame({"doc": doc[:count][whole], "shingle": shingle[whole]})


def minhash_bands(data: pa.Array | pa.ChunkedArray, options: DedupOptions) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bands) LSH keys of each dialogue's opening `near_chars` characters (its turns
    joined by a line break), and which rows have too few shingles to compare.

    One-permutation hashing estimates Jaccard well only when a text has about as many shingles
    as bins; shorter texts (under `bands * rows_per_band` shingles) are left to exact dedup.
    Openings are read straight from the turns in one compiled pass (`_opening_minhash`), which
    folds characters beyond ASCII by the rule's table; the few with a character the table cannot
    fold (NFKC changes it, emoji, CJK) are normalised by the Unicode rule first, then read the
    same way.
    """
    bins = options.bands * options.rows_per_band
    signature, shingles = opening_signatures(data, options)
    too_short = shingles < bins
    signature = _densify(signature)
    powers = mix64(np.arange(options.rows_per_band))
    with np.errstate(over="ignore"):
        keys = (signature.reshape(len(signature), options.bands, options.rows_per_band) * powers).sum(
            axis=2, dtype=_U64) + np.arange(options.bands, dtype=_U64)
    return keys, too_short


def opening_signatures(data: pa.Array | pa.ChunkedArray,
                       options: DedupOptions) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bins) MinHash signatures of each dialogue's opening (not densified: an empty bin
    holds all ones), and how many shingles each opening has."""
    bins = options.bands * options.rows_per_band
    layout = TurnLayout.of(data)
    offsets, text = string_buffers(plain_strings(layout.turns))
    first_turn = np.concatenate([[0], np.cumsum(layout.lengths)]).astype(np.int64)
    signature, shingles, unfolded = _opening_minhash(
        text, offsets, first_turn, options.near_chars, bins, _multipliers(options.shingle_words), True,
        FOLD_CLASS, FOLD_LOWER)
    if unfolded.any():
        rows = np.flatnonzero(unfolded)
        opening = opening_text(data.take(pa.array(rows)), options.near_chars)
        offsets, text = string_buffers(plain_strings(regex_normalized(opening, keep_spaces=True)))
        signature[rows], shingles[rows], _ = _opening_minhash(
            text, offsets, np.arange(len(rows) + 1, dtype=np.int64), len(text) + 1, bins,
            _multipliers(options.shingle_words), False, FOLD_CLASS, FOLD_LOWER)
    return signature, shingles


def _multipliers(width: int) -> np.ndarray:
    """Each position in a shingle gets its own multiplier: shingles are order-sensitive."""
    return mix64(np.arange(width))


@numba.njit(nogil=True, cache=True)
def _opening_minhash(text, offsets, first_turn, budget, bins, multipliers, raw, classes,
                     lower):  # pragma: no cover (compiled; tested through opening_signatures)
    """One pass over the opening characters of each dialogue: words, shingles, MinHash signature.

    Dialogue d is turns first_turn[d] .. first_turn[d+1]-1, read as if joined by a line break,
    for at most `budget` characters. Words are the rule's (`normalize`): runs of letters and
    digits, lower-cased, punctuation dropped, cut at white space; ASCII by the byte classes,
    other characters (`raw`) by the folding table (`classes`, `lower`: `FOLD_CLASS`, `FOLD_LOWER`,
    passed in, as numba would freeze a global's value into its cached code): a dialogue with
    a character the table cannot fold is only flagged (the caller normalises it by the Unicode
    rule and reads it again, not `raw`: then bytes beyond ASCII are letters already folded).
    A word's hash is FNV-1a 64 of its folded UTF-8 bytes, mixed (SplitMix64); a shingle is the
    sum of `len(multipliers)` consecutive word hashes times their position's multiplier, mixed;
    its high half picks the bin, its low half competes for the bin's minimum.
    """
    dialogues, width = len(first_turn) - 1, len(multipliers)
    signature = np.full((dialogues, bins), _NO_SHINGLE)
    shingles = np.zeros(dialogues, np.int64)
    unfolded = np.zeros(dialogues, np.bool_)
    # The opening's word hashes in order (at most one a character read), after `width - 1`
    # slots left empty: a shingle reads the last `width` of them.
    hashes = np.zeros(min(budget, len(text)) + width, np.uint64)
    for d in range(dialogues):
        left, words, word, in_word = budget, 0, _FNV_OFFSET, False
        row = signature[d]
        for turn in range(first_turn[d], first_turn[d + 1]):
            position, end = offsets[turn], offsets[turn + 1]
            while position < end and left > 0:
                stop = min(end, position + left)
                start, position = position, stop
                run = text[start:stop]  # indexed from 0: no negative-index test
                for offset in range(len(run)):  # a run of ASCII (one byte a character)
                    byte = run[offset]
                    if raw and byte >= 128:
                        position = start + offset
                        break
                    if KEEP_BYTE[byte]:
                        word = (word ^ _U64(LOWER_BYTE[byte])) * _FNV_PRIME
                        in_word = True
                    elif in_word and not NOT_BREAK_BYTE[byte]:  # a word ends: slide it in
                        words = _slide(word, hashes, multipliers, words, row, bins)
                        word, in_word = _FNV_OFFSET, False
                left -= position - start
                if position == stop:
                    break
                byte = text[position]  # a character beyond ASCII
                left -= 1
                if byte < 0xE0:
                    point, size = ((byte & 0x1F) << 6) | (text[position + 1] & 0x3F), 2
                elif byte < 0xF0:
                    point = (((byte & 0x0F) << 12) | ((text[position + 1] & 0x3F) << 6)
                             | (text[position + 2] & 0x3F))
                    size = 3
                else:
                    point, size = len(classes), 4  # beyond the table
                position += size
                kind = classes[point] if point < len(classes) else 3
                if kind >= 3:  # not foldable alone, or expanding under NFKC: the Unicode rule reads it
                    unfolded[d] = True
                    break
                if kind == 1:  # kept: its lower case's UTF-8 bytes go into the word
                    folded = lower[point]
                    if folded < 0x80:
                        word = (word ^ _U64(folded)) * _FNV_PRIME
                    elif folded < 0x800:
                        word = (word ^ _U64(0xC0 | (folded >> 6))) * _FNV_PRIME
                        word = (word ^ _U64(0x80 | (folded & 0x3F))) * _FNV_PRIME
                    else:
                        word = (word ^ _U64(0xE0 | (folded >> 12))) * _FNV_PRIME
                        word = (word ^ _U64(0x80 | ((folded >> 6) & 0x3F))) * _FNV_PRIME
                        word = (word ^ _U64(0x80 | (folded & 0x3F))) * _FNV_PRIME
                    in_word = True
                elif kind == 2 and in_word:  # white space
                    words = _slide(word, hashes, multipliers, words, row, bins)
                    word, in_word = _FNV_OFFSET, False
            if unfolded[d]:
                break
            if in_word:  # the line break after the turn (or the opening's end) ends a word
                words = _slide(word, hashes, multipliers, words, row, bins)
                word, in_word = _FNV_OFFSET, False
            if left == 0:
                break
            left -= 1  # the line break joining this turn to the next
        shingles[d] = max(words - width + 1, 0)  # a shingle a full window
    return signature, shingles, unfolded


@numba.njit(inline="always", cache=True)
def _slide(word, hashes, multipliers, words, signature, bins):  # pragma: no cover
    """A word ends: its mixed hash follows the opening's others, and the shingle of the last
    `width` is folded into the dialogue's signature (its row), once there are that many. The
    words seen, with this one.

    Without a branch: a shingle is always made (the first ones over the empty slots) and an
    early one is folded in as the empty value. With the branch (`if words >= width`) in this
    inlined function, the compiled pass took ~2.5x as long."""
    width = len(multipliers)
    hashes[words + width - 1] = _mix(word)
    shingle = _U64(0)
    for k in range(width):
        shingle += hashes[words + k] * multipliers[k]
    words += 1
    mixed = _mix(shingle)
    slot = ((mixed >> _U64(32)) * _U64(bins)) >> _U64(32)
    signature[slot] = min(signature[slot], mixed & _U64(0xFFFFFFFF) if words >= width else _NO_SHINGLE)
    return words


@numba.njit(inline="always", cache=True)
def _mix(value):  # pragma: no cover (compiled)
    """SplitMix64's finaliser, as `hashing.mix64`."""
    value = value + _U64(0x9E3779B97F4A7C15)
    value = (value ^ (value >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> _U64(27))) * _U64(0x94D049BB133111EB)
    return value ^ (value >> _U64(31))


def _densify(signature: np.ndarray) -> np.ndarray:
    """Fill empty bins from the next filled bin to the right, wrapping (rotation densification)."""
    rows, bins = signature.shape
    empty = signature == _NO_SHINGLE
    if not empty.any():
        return signature
    doubled = np.concatenate([signature, signature], axis=1)
    position = np.where(np.concatenate([~empty, ~empty], axis=1), np.arange(2 * bins), 4 * bins)
    next_filled = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1][:, :bins]
    no_shingle = next_filled[:, 0] >= 4 * bins
    next_filled = np.minimum(next_filled, 2 * bins - 1)
    with np.errstate(over="ignore"):
        filled = np.take_along_axis(doubled, next_filled, axis=1) + (
            (next_filled - np.arange(bins)).astype(_U64) * _MIX)
    filled[no_shingle] = _NO_SHINGLE
    return filled


@dataclass
class Decision:
    """For every row of a block: why it is a duplicate (None: kept) and which row (counted from
    the first row of the corpus) it duplicates; a kept row names itself."""

    reasons: list[str | None]
    duplicate_of: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        return np.array([reason is None for reason in self.reasons], bool)


@dataclass
class KeyPart:
    """The dedup keys of one block of rows (computed on a worker, decided in order)."""

    rows: int
    exact: np.ndarray | None = None
    opener: np.ndarray | None = None
    bands: np.ndarray | None = None
    too_short: np.ndarray | None = None


def compute_keys(rows: pa.Table, options: DedupOptions) -> KeyPart:
    if not options.modes:  # nothing to compare: only the row count matters
        return KeyPart(rows.num_rows)
    data = one_array(rows.column("data"))  # joined once (rows may come as slices)
    layout = TurnLayout.of(data)
    turn_hashes = normalized_turn_hashes(layout.turns)
    part = KeyPart(rows.num_rows, dialogue_hashes(layout, turn_hashes),
                   turn_hashes[layout.position == 0])
    if "near" in options.modes:
        part.bands, part.too_short = minhash_bands(data, options)
    return part


class Deduplicator:
    """Decides each block as it comes, in release order, against every key seen before it.

    A duplicate's first occurrence is always in an earlier block or earlier in its own, so
    deciding online gives the same answer as deciding the whole corpus at once, whatever the
    block boundaries: rows can be written as soon as their block is decided (no spool). The
    state is a hash table of keys (`_KeyIndex`), 16-32 bytes a key (~250-500 bytes a dialogue
    with near dedup).
    """

    def __init__(self, options: DedupOptions):
        self.options = options
        self.rows = 0
        self._exact, self._opener = _KeyIndex(), _KeyIndex()
        self._bands = _KeyIndex()  # every band's keys (they differ by band: see `minhash_bands`)
        self._root = np.zeros(0, np.int64)  # near dedup: the kept row each row leads to

    def decide(self, part: KeyPart) -> Decision:
        rows = np.arange(self.rows, self.rows + part.rows)
        self.rows += part.rows
        code = np.zeros(part.rows, np.int8)
        duplicate_of = rows.copy()
        if not self.options.modes:
            return Decision([None] * part.rows, duplicate_of)
        alive = np.ones(part.rows, bool)
        if "exact" in self.options.modes:
            _drop_repeats(self._exact, part.exact, rows, alive, code, duplicate_of, 1)
        if "near" in self.options.modes:
            self._drop_near(part, rows, alive, code, duplicate_of)
        if "opener" in self.options.modes:
            _drop_repeats(self._opener, part.opener, rows, alive, code, duplicate_of, 3)
        return Decision([_REASON_CODES[c] for c in code.tolist()], duplicate_of)

    def _drop_near(self, part: KeyPart, rows, alive, code, duplicate_of) -> None:
        """A candidate sharing any band key with an earlier candidate follows it; chains end at
        the first candidate of their cluster, which is kept."""
        if len(self._root) < self.rows:
            self._root = np.concatenate([self._root, np.zeros(max(self.rows, 2 * len(self._root))
                                                              - len(self._root), np.int64)])
        root = self._root
        root[rows] = rows
        candidates = np.flatnonzero(alive & ~part.too_short)
        ids = rows[candidates]
        # Row-major: a key's first occurrence is in its earliest row.
        first = self._bands.first_rows(part.bands[candidates].ravel(), np.repeat(ids, self.options.bands))
        root[ids] = np.minimum(ids, first.reshape(len(ids), self.options.bands).min(axis=1))
        while True:  # rows of earlier blocks already point at their root
            deeper = root[root[ids]]
            if np.array_equal(deeper, root[ids]):
                break
            root[ids] = deeper
        duplicate = root[ids] != ids
        code[candidates[duplicate]] = 2
        duplicate_of[candidates[duplicate]] = root[ids[duplicate]]
        alive[candidates[duplicate]] = False


class _KeyIndex:
    """Keys seen so far -> the row that had each first: an open-addressing hash table (linear
    probing) in two numpy arrays, probed by a compiled kernel, kept at most 3/4 full.

    One probe a key, where the sorted runs of keys it replaces cost a binary search a run and
    merges (2.8M band keys in 187 blocks, as a 200k run has: 1.3 CPU-s against 0.2, on the
    main thread). 12 bytes a slot (rows as int32: 2 billion dialogues), and between 3/8 and 3/4
    of the slots hold a key.
    """

    _MAX_LOAD = 0.75

    def __init__(self, capacity: int = 1 << 16):
        self._keys = np.zeros(capacity, _U64)
        self._rows = np.full(capacity, -1, np.int32)  # -1: an empty slot (any key is a valid key)
        self.size = 0

    def first_rows(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each key (rows in ascending order), the first row holding it, in an earlier call
        or this one; keys new to the index are added with their row."""
        if len(rows) and rows[-1] > np.iinfo(np.int32).max:
            raise ValueError("dedup keeps row numbers as int32: over 2 billion dialogues in one run")
        self._make_room(len(keys))
        found, added = _probe(self._keys, self._rows, keys.astype(_U64), rows.astype(np.int64))
        self.size += added
        return found

    def _make_room(self, more: int) -> None:
        capacity = len(self._keys)
        while self.size + more > self._MAX_LOAD * capacity:
            capacity *= 2
        if capacity == len(self._keys):
            return
        old_keys, old_rows = self._keys, self._rows
        self._keys, self._rows = np.zeros(capacity, _U64), np.full(capacity, -1, np.int32)
        _move(old_keys, old_rows, self._keys, self._rows)


@numba.njit(nogil=True, cache=True)
def _probe(table_keys, table_rows, keys, rows):  # pragma: no cover (compiled)
    """Each key's row in the table, an absent key added first with its row from `rows`.
    Returns the rows found and how many keys were added."""
    found = np.empty(len(keys), np.int64)
    added = 0
    for i in range(len(keys)):
        slot = _slot(table_keys, table_rows, keys[i])
        if table_rows[slot] < 0:
            table_keys[slot], table_rows[slot] = keys[i], rows[i]
            added += 1
        found[i] = table_rows[slot]
    return found, added


@numba.njit(nogil=True, cache=True)
def _move(old_keys, old_rows, table_keys, table_rows):  # pragma: no cover (compiled)
    """Every filled slot of the old table into the new one, read in place (no copy of the old
    keys: at 400k dialogues they are ~70 MB at the moment the table grows)."""
    for old in range(len(old_keys)):
        if old_rows[old] >= 0:
            slot = _slot(table_keys, table_rows, old_keys[old])
            table_keys[slot], table_rows[slot] = old_keys[old], old_rows[old]


@numba.njit(inline="always", cache=True)
def _slot(table_keys, table_rows, key):  # pragma: no cover (compiled)
    """The slot holding `key`, or the empty slot where it would go (linear probing from its
    hash: keys need not be hashes, the tests use small numbers)."""
    mask = _U64(len(table_keys) - 1)
    slot = _mix(key) & mask
    while table_rows[slot] >= 0 and table_keys[slot] != key:
        slot = (slot + _U64(1)) & mask
    return slot


def _drop_repeats(index: _KeyIndex, keys, rows, alive, code, duplicate_of, reason_code) -> None:
    """Rows still alive whose key an earlier living row had: drop them, naming that row."""
    living = np.flatnonzero(alive)
    first = index.first_rows(keys[living], rows[living])
    duplicate = first != rows[living]
    code[living[duplicate]] = reason_code
    duplicate_of[living[duplicate]] = first[duplicate]
    alive[living[duplicate]] = False
