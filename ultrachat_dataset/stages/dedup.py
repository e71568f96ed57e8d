"""Duplicates across the whole corpus: exact, by opening turn, and near (MinHash LSH).

Keys are computed batch by batch (`DedupKeys.add`, small arrays: ~130 bytes a dialogue), then
decided once for the whole corpus (`DedupKeys.decide`), so the first occurrence in release
order (files in registry order, lines in file order) always survives and every duplicate names
the kept dialogue it duplicates.

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

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from ..errors import ConfigError
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


def _splitmix(values: np.ndarray) -> np.ndarray:
    """A strong 64-bit mixer, so sums and bins of hashes behave like independent hashes."""
    with np.errstate(over="ignore"):
        z = values.astype(_U64) + _MIX  # a new array: the steps below work in place
        z ^= z >> _U64(30)
        z *= _U64(0xBF58476D1CE4E5B9)
        z ^= z >> _U64(27)
        z *= _U64(0x94D049BB133111EB)
        z ^= z >> _U64(31)
        return z


def normalized_turn_hashes(turns: pa.Array) -> np.ndarray:
    return normalized_hashes(turns, seed=7)


def dialogue_hashes(layout: TurnLayout, turn_hashes: np.ndarray) -> np.ndarray:
    """One hash per dialogue from its turn hashes, order-sensitive (reduceat over contiguous rows)."""
    with np.errstate(over="ignore"):
        weighted = _splitmix(turn_hashes ^ _splitmix(layout.position))
    starts = np.cumsum(layout.lengths) - layout.lengths
    sums = np.add.reduceat(weighted, starts) if len(weighted) else np.zeros(0, _U64)
    return _splitmix(sums ^ layout.lengths.astype(_U64))


def word_shingles(texts: pa.Array, words_per_shingle: int) -> pl.DataFrame:
    """(doc, shingle hash) for every run of `words_per_shingle` words of each (normalised) text."""
    doc, word = normalized_words(texts, seed=11)
    n = words_per_shingle
    count = max(len(word) - n + 1, 0)
    shingle = np.zeros(count, _U64)
    with np.errstate(over="ignore"):
        for k in range(n):  # order-sensitive: each position gets its own multiplier
            shingle += word[k:k + count] * _splitmix(np.array([k]))[0]
    whole = doc[:count] == doc[n - 1:n - 1 + count]  # the n words belong to one text
    return pl.DataFrame({"doc": doc[:count][whole], "shingle": shingle[whole]})


def minhash_bands(texts: pa.Array, options: DedupOptions) -> tuple[np.ndarray, np.ndarray]:
    """(rows, bands) LSH keys, and which rows have too few shingles to compare.

    One-permutation hashing estimates Jaccard well only when a text has about as many shingles
    as bins; shorter texts (under `bands * rows_per_band` shingles) are left to exact dedup.
    """
    bins = options.bands * options.rows_per_band
    shingles = word_shingles(texts, options.shingle_words)
    mixed = _splitmix(shingles["shingle"].to_numpy())
    docs = shingles["doc"].to_numpy().astype(np.int64)
    too_short = np.bincount(docs, minlength=len(texts)) < bins
    bin_of = ((mixed >> _U64(32)) * _U64(bins)) >> _U64(32)
    signature = np.full(len(texts) * bins, _NO_SHINGLE, _U64)
    np.minimum.at(signature, docs * bins + bin_of.astype(np.int64), mixed & _U64(0xFFFFFFFF))
    signature = _densify(signature.reshape(len(texts), bins))
    powers = _splitmix(np.arange(options.rows_per_band))
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
    """For every row in order: why it is a duplicate (None: kept) and which row it duplicates."""

    reasons: list[str | None]
    duplicate_of: np.ndarray


@dataclass
class KeyPart:
    """The dedup keys of one block of rows (computed on a worker, appended in order)."""

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


@dataclass
class DedupKeys:
    """Keys of the whole corpus, in order, then one decision for all of it."""

    options: DedupOptions
    parts: list[KeyPart] = field(default_factory=list)

    def add(self, rows: pa.Table) -> None:
        self.append(compute_keys(rows, self.options))

    def append(self, part: KeyPart) -> None:
        self.parts.append(part)

    def _joined(self, name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in self.parts])

    def decide(self) -> Decision:
        count = sum(part.rows for part in self.parts)
        code = np.zeros(count, np.int8)
        duplicate_of = np.arange(count)
        if count == 0 or not self.options.modes:
            return Decision([None] * count, duplicate_of)
        alive = np.ones(count, bool)
        if "exact" in self.options.modes:
            _mark_first_occurrences(self._joined("exact"), alive, code, duplicate_of, 1)
        if "near" in self.options.modes:
            self._mark_near(alive, code, duplicate_of)
        if "opener" in self.options.modes:
            _mark_first_occurrences(self._joined("opener"), alive, code, duplicate_of, 3)
        return Decision([_REASON_CODES[c] for c in code.tolist()], duplicate_of)

    def _mark_near(self, alive, code, duplicate_of) -> None:
        bands = self._joined("bands")
        candidates = np.flatnonzero(alive & ~self._joined("too_short"))
        representative = np.arange(len(candidates))
        for band in range(bands.shape[1]):
            representative = np.minimum(representative, _first_index(bands[candidates, band]))
        while True:  # follow chains to a root that has no earlier neighbour: it is kept
            deeper = representative[representative]
            if np.array_equal(deeper, representative):
                break
            representative = deeper
        duplicate = representative != np.arange(len(candidates))
        rows = candidates[duplicate]
        code[rows] = 2
        duplicate_of[rows] = candidates[representative[duplicate]]
        alive[rows] = False


def _first_index(keys: np.ndarray) -> np.ndarray:
    """For each position, the first position holding the same key."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def _mark_first_occurrences(keys, alive, code, duplicate_of, reason_code) -> None:
    living = np.flatnonzero(alive)
    first = living[_first_index(keys[living])]
    duplicate = first != living
    code[living[duplicate]] = reason_code
    duplicate_of[living[duplicate]] = first[duplicate]
    alive[living[duplicate]] = False
