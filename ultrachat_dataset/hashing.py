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


def stable_hashes(texts: pa.Array | pa.ChunkedArray | list[str], seed: int = 0) -> np.ndarray:
    """One uint64 XXH3-64 hash of each string's UTF-8 bytes (a null hashes as the empty string)."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    frame = pl.from_arrow(texts).alias("text").to_frame()
    hashed = frame.select(pl.col("text").fill_null("").nchash.xxh3_64(seed=seed))
    return hashed["text"].to_numpy()
