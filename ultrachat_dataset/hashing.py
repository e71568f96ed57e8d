"""A 64-bit string hash with a fixed specification: XXH3-64, seeded, vectorised.

Dedup keys, MinHash words and the card's TF-IDF buckets are hashes of strings. `polars`' own hash
is documented as free to change between its versions, and a changed hash would change which
dialogues are duplicates: the same inputs must give the same outputs whatever the versions
installed. XXH3 is specified and its values are pinned by a test. The `polars-hash` plugin
computes it in Rust over a whole column (the `xxhash` package would need a Python call a
string: ~40x slower on words).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  (registers the `nchash` expressions)
import pyarrow as pa


def sha256_hex(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The sha256 of each string's UTF-8 bytes as lower-case hex, as `hashlib`'s `hexdigest()`."""
    frame = pl.from_arrow(texts).alias("text").to_frame()
    return frame.select(pl.col("text").chash.sha2_256())["text"].to_arrow().cast(pa.string())


def stable_hashes(texts: pa.Array | pa.ChunkedArray | list[str], seed: int = 0) -> np.ndarray:
    """One uint64 XXH3-64 hash of each string's UTF-8 bytes (a null hashes as the empty string)."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    frame = pl.from_arrow(texts).alias("text").to_frame()
    return frame.select(stable_hash(pl.col("text"), seed))["text"].to_numpy()


def stable_hash(texts: pl.Expr, seed: int = 0) -> pl.Expr:
    """`stable_hashes` as a polars expression, for a query that does more."""
    return texts.fill_null("").nchash.xxh3_64(seed=seed)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a strong 64-bit mixer, so that sums, bins and orders of hashed
    numbers behave like independent hashes."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)  # a new array: in place below
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        return z
