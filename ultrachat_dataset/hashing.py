"""A 64-bit string hash with a fixed specification: XXH3-64 (the `xxhash` library), seeded.

Dedup keys, MinHash words and the card's TF-IDF buckets are hashes of strings. `polars`' hash is
documented as free to change between its versions, and a changed hash would change which
dialogues are duplicates: the same inputs must give the same outputs whatever the versions
installed. XXH3 is specified and its values are pinned by a test. Strings are hashed once each:
repeated ones (words) are found first with Arrow's dictionary encoding, in C++.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash


def stable_hashes(texts: pa.Array | pa.ChunkedArray | list[str], seed: int = 0,
                  repeated: bool = False) -> np.ndarray:
    """One uint64 XXH3-64 hash of each string's UTF-8 bytes (a null hashes as the empty string).
    `repeated`: many strings recur (words): each distinct one is hashed once."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    texts = pc.fill_null(texts.cast(pa.string()), "")
    if not repeated:
        return _xxh3(texts, seed)
    encoded = pc.dictionary_encode(texts)
    if isinstance(encoded, pa.ChunkedArray):  # one dictionary for all chunks
        encoded = encoded.unify_dictionaries().combine_chunks()
    return _xxh3(encoded.dictionary, seed)[encoded.indices.to_numpy(zero_copy_only=False)]


def _xxh3(texts: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    values = texts.cast(pa.binary()).to_pylist()
    return np.fromiter((xxhash.xxh3_64_intdigest(value, seed) for value in values), np.uint64,
                       count=len(values))
