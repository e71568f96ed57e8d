"""Text normalised for comparison (dedup, decontamination): NFKC, lower case, punctuation removed, and
white space either removed or kept as word separators. Also the words of normalised text, hashed.

The rule is defined by the Unicode regexes of `normalize_expr` (polars). Almost every turn is
ASCII, where the same rule is a byte translation: `bytes.translate` lower-cases and deletes in
one C pass, and numpy finds where each text starts after the deletions. That path runs ~3x
faster than the regexes; texts with any non-ASCII byte take the regexes. A property test holds
the two paths equal.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..hashing import stable_hashes
from ..turns import flags, string_buffers

_ALNUM = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WHITE_SPACE = b"\t\n\x0b\x0c\r "  # the ASCII part of Unicode White_Space (regex `\s`)
_LOWER = bytes(range(256)).lower()
_TO_SPACE = bytes(32 if byte in _WHITE_SPACE else _LOWER[byte] for byte in range(256))
_DELETE_ALL = bytes(byte for byte in range(256) if byte not in _ALNUM)
_DELETE_PUNCTUATION = bytes(byte for byte in _DELETE_ALL if byte not in _WHITE_SPACE)
_SPACE = 32


def normalize_expr(text: pl.Expr, keep_spaces: bool) -> pl.Expr:
    """The rule, for any text: NFKC (full-width and other compatibility look-alikes become the
    plain letters; ASCII is unchanged by it), lower case, punctuation removed; white space
    removed too, or collapsed to one space."""
    lowered = text.str.normalize("NFKC").str.to_lowercase()
    if keep_spaces:
        return lowered.str.replace_all(r"[^\p{L}\p{N}\s]+", "").str.replace_all(r"\s+", " ")
    return lowered.str.replace_all(r"[^\p{L}\p{N}]+", "")


def normalized_parts(texts: pa.Array, keep_spaces: bool) -> list[tuple[np.ndarray, pa.Array]]:
    """(positions, normalised texts at those positions) for the ASCII texts, then the rest.

    With `keep_spaces` the ASCII path keeps every white space character as one space (no
    collapsing): the words, which are all that is compared, are the same.
    """
    texts = _plain_strings(texts)
    ascii_mask = flags(pc.string_is_ascii(texts))
    parts = []
    if ascii_mask.any():
        # The byte path runs over every text (cheaper than picking out the ASCII ones first);
        # only the results of the ASCII texts are used.
        normalized = _normalize_ascii(texts, keep_spaces)
        parts.append((np.flatnonzero(ascii_mask),
                      normalized if ascii_mask.all() else normalized.filter(pa.array(ascii_mask))))
    if not ascii_mask.all():
        rest = pl.from_arrow(texts.filter(pa.array(~ascii_mask))).to_frame("text")
        normalized = rest.select(normalize_expr(pl.col("text"), keep_spaces))["text"]
        parts.append((np.flatnonzero(~ascii_mask), normalized.to_arrow()))
    return parts


def normalized_hashes(texts: pa.Array, seed: int) -> np.ndarray:
    """One 64-bit hash per text of its normalised form (white space removed)."""
    hashes = np.zeros(len(texts), np.uint64)
    for positions, normalized in normalized_parts(texts, keep_spaces=False):
        hashes[positions] = stable_hashes(normalized, seed)
    return hashes


def normalized_words(texts: pa.Array, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(text index, word hash) for every word of every normalised text, in text then word order."""
    docs, hashes = [], []
    for positions, normalized in normalized_parts(texts, keep_spaces=True):
        local_doc, words = _split_words(normalized)
        docs.append(positions[local_doc])
        hashes.append(stable_hashes(words, seed))
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    doc, word = np.concatenate(docs), np.concatenate(hashes)
    if len(docs) > 1:  # the two paths interleave in text order; words keep their order within a text
        order = np.argsort(doc, kind="stable")
        doc, word = doc[order], word[order]
    return doc, word


def _plain_strings(texts: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    if isinstance(texts, pa.ChunkedArray):
        texts = pa.concat_arrays(texts.chunks) if texts.num_chunks else pa.array([], pa.string())
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    return pc.fill_null(texts, "") if texts.null_count else texts


def _is_alnum(data: np.ndarray) -> np.ndarray:
    """ASCII letters and digits, in byte arithmetic (several times faster than a lookup table)."""
    with np.errstate(over="ignore"):
        return (((data | np.uint8(32)) - np.uint8(97)) < 26) | ((data - np.uint8(48)) < 10)


def _normalize_ascii(texts: pa.StringArray, keep_spaces: bool) -> pa.StringArray:
    offsets, data = string_buffers(texts)
    kept = _is_alnum(data)
    if keep_spaces:
        with np.errstate(over="ignore"):
            kept |= (data == _SPACE) | ((data - np.uint8(9)) < 5)
    deleted_before = np.searchsorted(np.flatnonzero(~kept), offsets)
    if keep_spaces:
        normalized = data.tobytes().translate(_TO_SPACE, _DELETE_PUNCTUATION)
    else:
        normalized = data.tobytes().translate(_LOWER, _DELETE_ALL)
    return _strings(offsets - deleted_before, normalized)


def _split_words(normalized: pa.StringArray) -> tuple[np.ndarray, pa.StringArray]:
    """(text index of each word, the words) of texts holding letters, digits and spaces only."""
    normalized = _plain_strings(normalized)
    offsets, data = string_buffers(normalized)
    space = data == _SPACE
    # A word starts after a space or at a text start, and ends before a space or at a text end.
    boundary = np.ones(len(data) + 1, bool)
    boundary[1:-1] = space[:-1] != space[1:]
    boundary[offsets] = True
    edges = np.flatnonzero(boundary)
    starts, ends = edges[:-1], edges[1:]
    is_word = ~space[starts] if len(data) else np.zeros(0, bool)
    starts, ends = starts[is_word], ends[is_word]
    lengths = ends - starts
    letters = data.tobytes().translate(None, b" ")
    words = _strings(np.concatenate(([0], np.cumsum(lengths))), letters)
    return np.searchsorted(offsets, starts, side="right") - 1, words


def _strings(offsets: np.ndarray, data: bytes) -> pa.StringArray:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(data))
