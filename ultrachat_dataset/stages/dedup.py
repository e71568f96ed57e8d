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

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import ConfigError
from ..hashing import mix64
from ..turns import TurnLayout, opening_text
from .normalize import normalized_hashes, normalized_words

DEDUP_MODES = {
    "exact": "drop dialogues equal to an earlier one after normalisation (case, space, punctuation)",
    "near": "drop dialogues whose opening ~2000 characters nearly equal an earlier one (MinHash LSH)",
    "opener": "drop dialogues whose first user turn equals an earlier one's (normalised)",
}
DEFAULT_DEDUP = ("exact", "near")
_REASON_CODES = (None, "exact_duplicate", "near_duplicate", "duplicate_opener")
_U64 = np.uint64
_MIX = _U64(0x9E3779B97F4A7C15)
_NO_SHINGLE = _U64(0xFFFFFFFFFFFFFFFF)


@dataclass
class DedupOptions:
    modes: tuple[str, ...] = DEFAULT_DEDUP
    near_chars: int = 2000
    shingle_words: int = 5
    bands: int = 14
    rows_per_band: int = 8

    def __post_init__(self):
        unknown = [mode for mode in self.modes if mode not in DEDUP_MODES]
        if unknown:
            raise ConfigError(f"unknown dedup mode {', '.join(unknown)}: choose from "
                              f"{', '.join(DEDUP_MODES)} (or none)")


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


def minhash_bands(texts: pa.Array, options: DedupOptions) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bands) LSH keys, and which rows have too few shingles to compare.

    One-permutation hashing estimates Jaccard well only when a text has about as many shingles
    as bins; shorter texts (under `bands * rows_per_band` shingles) are left to exact dedup.
    """
    bins = options.bands * options.rows_per_band
    shingles = word_shingles(texts, options.shingle_words)
    mixed = mix64(shingles["shingle"].to_numpy())
    docs = shingles["doc"].to_numpy().astype(np.int64)
    too_short = np.bincount(docs, minlength=len(texts)) < bins
    bin_of = ((mixed >> _U64(32)) * _U64(bins)) >> _U64(32)
    signature = np.full(len(texts) * bins, _NO_SHINGLE, _U64)
    np.minimum.at(signature, docs * bins + bin_of.astype(np.int64), mixed & _U64(0xFFFFFFFF))
    signature = _densify(signature.reshape(len(texts), bins))
    powers = mix64(np.arange(options.rows_per_band))
    with np.errstate(over="ignore"):
        keys = (signature.reshape(len(texts), options.bands, options.rows_per_band) * powers).sum(
            axis=2, dtype=_U64) + np.arange(options.bands, dtype=_U64)
    return keys, too_short


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
    layout = TurnLayout.of(rows.column("data"))
    turn_hashes = normalized_turn_hashes(layout.turns)
    part = KeyPart(rows.num_rows, dialogue_hashes(layout, turn_hashes),
                   turn_hashes[layout.position == 0])
    if "near" in options.modes:
        prefix = opening_text(rows.column("data"), options.near_chars)
        part.bands, part.too_short = minhash_bands(prefix, options)
    return part


class Deduplicator:
    """Decides each block as it comes, in release order, against every key seen before it.

    A duplicate's first occurrence is always in an earlier block or earlier in its own, so
    deciding online gives the same answer as deciding the whole corpus at once, whatever the
    block boundaries: rows can be written as soon as their block is decided (no spool). The
    state is sorted arrays of keys, ~12 bytes a key (~200 bytes a dialogue with near dedup).
    """

    def __init__(self, options: DedupOptions):
        self.options = options
        self.rows = 0
        self._exact, self._opener = _KeyIndex(), _KeyIndex()
        self._bands = [_KeyIndex() for _ in range(options.bands)]
        self._root = np.zeros(0, np.int64)  # near dedup: the kept row each row leads to

    def add(self, rows: pa.Table) -> Decision:
        return self.decide(compute_keys(rows, self.options))

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
        leader = ids.copy()
        for band, index in enumerate(self._bands):
            leader = np.minimum(leader, _first_seen(index, part.bands[candidates, band], ids))
        root[ids] = leader
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
    """Keys seen so far -> the row that had each first. Sorted runs, merged two by two when
    the newer one grows as large as the one before (a binary counter): a lookup searches
    O(log n) runs, and every key is merged O(log n) times."""

    def __init__(self):
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The first row holding each key, or -1 where no earlier row holds it."""
        found = np.full(len(keys), -1, np.int64)
        for run_keys, run_rows in self._runs:
            position = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[position] == keys
            found[hit] = run_rows[position[hit]]
        return found

    def insert(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Keys not seen before (each once), with their rows."""
        if len(keys) == 0:
            return
        order = np.argsort(keys)
        self._runs.append((keys[order], rows[order]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (keys_a, rows_a), (keys_b, rows_b) = self._runs.pop(-2), self._runs.pop()
            merged_keys = np.concatenate([keys_a, keys_b])
            order = np.argsort(merged_keys, kind="stable")  # two sorted runs: timsort merges them
            self._runs.append((merged_keys[order], np.concatenate([rows_a, rows_b])[order]))


def _first_seen(index: _KeyIndex, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each key, the first row holding it, in an earlier block or this one; keys new to
    the index are added with their first row."""
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    earlier = index.lookup(unique)
    new = earlier < 0
    earlier[new] = rows[first[new]]
    index.insert(unique[new], earlier[new])
    return earlier[inverse.ravel()]


def _drop_repeats(index: _KeyIndex, keys, rows, alive, code, duplicate_of, reason_code) -> None:
    """Rows still alive whose key an earlier living row had: drop them, naming that row."""
    living = np.flatnonzero(alive)
    first = _first_seen(index, keys[living], rows[living])
    duplicate = first != rows[living]
    code[living[duplicate]] = reason_code
    duplicate_of[living[duplicate]] = first[duplicate]
    alive[living[duplicate]] = False
