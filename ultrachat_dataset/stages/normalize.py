"""Text normalised for comparison (dedup, decontamination): NFKC, lower case, punctuation removed, and
white space either removed or kept as word separators. Also the words of normalised text, hashed.

The rule is defined by the Unicode regexes of `normalize_expr` (polars). Almost every turn is
ASCII, where the same rule is a byte rule: a compiled kernel (numba) lower-cases, drops
punctuation and cuts words in one pass over the bytes, ~10x faster than the regexes and than
numpy's several passes. Texts with any non-ASCII byte take the regexes. Property tests hold the
two paths equal.

The kernels (here and in the other stages) read each text as a slice indexed from 0: numba then
knows an index is not negative and drops its wrap-around test, without which the compiler makes
the simple loops vector loops (~3x faster on a count of bytes, ~1.4x on `_squeeze_ascii`).
"""

from __future__ import annotations

import unicodedata

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..hashing import stable_hashes
from ..turns import flags, one_array, string_buffers


def normalize_expr(text: pl.Expr, keep_spaces: bool) -> pl.Expr:
    """The rule, for any text: NFKC (full-width and other compatibility look-alikes become the
    plain letters; ASCII is unchanged by it), lower case, punctuation removed; white space
    removed too, or collapsed to one space."""
    return _folded(text.str.normalize("NFKC"), keep_spaces)


def _folded(text: pl.Expr, keep_spaces: bool) -> pl.Expr:
    """The rule but NFKC, for text already NFKC."""
    lowered = text.str.to_lowercase()
    if keep_spaces:
        return lowered.str.replace_all(r"[^\p{L}\p{N}\s]+", "").str.replace_all(r"\s+", " ")
    return lowered.str.replace_all(r"[^\p{L}\p{N}]+", "")


def normalized_hashes(texts: pa.Array, seed: int) -> np.ndarray:
    """One 64-bit hash per text of its normalised form (white space removed)."""
    texts = plain_strings(texts)
    offsets, data = string_buffers(texts)
    # One pass squeezes every text by the ASCII rule and finds those beyond ASCII (Arrow's own
    # test for that was another pass, ~a third of this one); those are hashed by the regexes.
    kept, kept_offsets, beyond_ascii = _squeeze_ascii(data, offsets)
    hashes = stable_hashes(_strings(kept_offsets, kept), seed).copy()  # writable
    if beyond_ascii.any():
        rest = np.flatnonzero(beyond_ascii)
        hashes[rest] = stable_hashes(regex_normalized(texts.take(pa.array(rest)), False), seed)
    return hashes


def normalized_words(texts: pa.Array, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(text index, word hash) for every word of every normalised text, in text then word order."""
    texts = plain_strings(texts)
    ascii_mask = flags(pc.string_is_ascii(texts))
    docs, hashes = [], []
    for chosen, part in ((np.flatnonzero(ascii_mask), texts),
                         (np.flatnonzero(~ascii_mask), None)):
        if len(chosen) == 0:
            continue
        if part is None:  # the regex rule, then the same cut into words (it leaves letters,
            part = plain_strings(regex_normalized(texts.take(pa.array(chosen)), True))  # digits, spaces)
            positions, chosen = chosen, np.arange(len(chosen))
        else:
            positions = np.arange(len(texts))
        offsets, data = string_buffers(part)
        letters, word_offsets, word_text = _cut_words(data, offsets, chosen)
        docs.append(positions[word_text])
        hashes.append(stable_hashes(_strings(word_offsets, letters), seed))
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    doc, word = np.concatenate(docs), np.concatenate(hashes)
    if len(docs) > 1:  # the two paths interleave in text order; words keep their order within a text
        order = np.argsort(doc, kind="stable")
        doc, word = doc[order], word[order]
    return doc, word


def regex_normalized(texts: pa.Array, keep_spaces: bool) -> pa.Array:
    """`normalize_expr` over texts (any, ASCII or not). A compiled pass folds the texts whose
    characters are all in the folding table (`_fold_table`: "…", "™" and "½" too); the rest
    (emoji, CJK, combining marks) take the regexes, NFKC applied only to the texts it changes."""
    texts = plain_strings(texts)
    offsets, data = string_buffers(texts)
    out, out_offsets, unfolded = _fold(data, offsets, np.arange(len(texts)), FOLD_CLASS, FOLD_LOWER,
                                       FOLD_EXPANSION_OFFSETS, FOLD_EXPANSIONS, keep_spaces)
    rest = np.flatnonzero(unfolded)
    if not len(rest):
        return _strings(out_offsets, out).cast(pa.string())
    folded = pl.from_arrow(_strings(out_offsets, out)).cast(pl.String).alias("text")
    values = texts.take(pa.array(rest)).to_pylist()
    changed = np.flatnonzero([not unicodedata.is_normalized("NFKC", text) for text in values])
    series = pl.Series("text", values, pl.String)
    if len(changed):
        series = series.scatter(changed, series.gather(changed).str.normalize("NFKC"))
    folded = folded.scatter(rest, series.to_frame().select(_folded(pl.col("text"), keep_spaces))["text"])
    return folded.to_arrow().cast(pa.string())


def _fold_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per code point below U+3000: its class (0 dropped, 1 kept, 2 white space, 3 not foldable
    alone, 4 expands) and its lower case, read off the rule itself (polars) one character at a
    time, so the compiled pass can only agree with it; and the folded UTF-8 of each character
    of class 4 (offsets a code point, bytes). Not foldable: a character whose lower case is
    several characters, capital sigma (lower-cased by its place in a word), the marks and
    Hangul jamo that can compose with the character before them, and a character NFKC changes
    into something that could: one that starts with such a mark, holds sigma, holds white space
    among other characters (an expansion is written as it is, so its space would not join the
    next), or folds to more than twice its bytes (so a text the pass folds is NFKC as a whole
    when each of its characters is, and the output fits). A character NFKC makes white space
    alone (no-break and thin spaces: ftfy's repairs leave many) is white space. A character NFKC
    changes otherwise (™, …, ½, ﬁ, full-width letters) expands to the rule's output for it alone."""
    limit = 0x3000
    chars = [chr(point) for point in range(limit)]
    expanded = [unicodedata.normalize("NFKC", char) for char in chars]
    kept = pl.Series("text", expanded).to_frame().select(_folded(pl.col("text"), True))["text"].to_list()
    classes = np.zeros(limit, np.uint8)
    lower = np.arange(limit, dtype=np.int64)
    pieces = [b""] * limit

    def composes(char: str) -> bool:
        return unicodedata.category(char) in ("Mn", "Mc", "Me") or 0x1100 <= ord(char) < 0x1200

    for point, (char, nfkc, result) in enumerate(zip(chars, expanded, kept)):
        unsure = 0xD800 <= point < 0xE000 or "\u03a3" in nfkc or composes(char)
        if nfkc != char:
            unsure = (unsure or not nfkc or composes(nfkc[0]) or len(result.encode()) > 2 * len(char.encode())
                      or (any(c.isspace() for c in nfkc) and not nfkc.isspace()))
        if unsure:
            classes[point] = 3
        elif result == "":
            classes[point] = 0
        elif result == " ":
            classes[point] = 2
        elif nfkc != char:
            classes[point], pieces[point] = 4, result.encode()
        elif len(result) == 1:
            classes[point], lower[point] = 1, ord(result)
        else:
            classes[point] = 3
    offsets = np.concatenate([[0], np.cumsum([len(piece) for piece in pieces])]).astype(np.int64)
    return classes, lower, offsets, np.frombuffer(b"".join(pieces) or b"\0", np.uint8).copy()


FOLD_CLASS, FOLD_LOWER, FOLD_EXPANSION_OFFSETS, FOLD_EXPANSIONS = _fold_table()  # also read by
# dedup's MinHash kernel, which takes an expanding character as one it cannot fold


@numba.njit(nogil=True, cache=True)
def _fold(data, offsets, chosen, classes, lower, expansion_offsets, expansions,
          keep_spaces):  # pragma: no cover (compiled)
    """The rule over the chosen texts' UTF-8 (tested through `regex_normalized`): each code
    point dropped, kept lower-cased, or a white space run made one space (`keep_spaces`) or
    nothing. A text with a code point beyond the table, or one the table cannot fold, is marked
    (the caller folds it)."""
    out = np.empty(len(data) * 2 + 4, np.uint8)  # lower case can take more bytes than upper
    out_offsets = np.zeros(len(chosen) + 1, np.int64)
    unfolded = np.zeros(len(chosen), np.bool_)
    size = 0
    for number in range(len(chosen)):
        text = chosen[number]
        start = size
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test
        spaced = False  # the last thing written is a space
        inside = 0  # continuation bytes of the code point read last, still to pass over
        for position in range(len(part)):
            if inside:
                inside -= 1
                continue
            byte = part[position]
            if byte < 0x80 and not keep_spaces:  # the ASCII rule, branch-free as `_squeeze_ascii`
                out[size] = LOWER_BYTE[byte]
                size += KEEP_BYTE[byte]
                continue
            if byte < 0x80:
                point = np.int64(byte)
            elif byte < 0xE0:
                point, inside = (np.int64(byte & 0x1F) << 6) | (part[position + 1] & 0x3F), 1
            elif byte < 0xF0:
                point = ((np.int64(byte & 0x0F) << 12) | (np.int64(part[position + 1] & 0x3F) << 6)
                         | (part[position + 2] & 0x3F))
                inside = 2
            else:
                point, inside = np.int64(0x110000), 3
            kind = classes[point] if point < len(classes) else 3
            if kind == 3:
                unfolded[number] = True
                break
            if kind == 4:  # NFKC makes it several characters: the rule's bytes for them
                for index in range(expansion_offsets[point], expansion_offsets[point + 1]):
                    out[size] = expansions[index]
                    size += 1
                spaced = False
                continue
            if kind == 2:
                if keep_spaces and not spaced:
                    out[size] = 32
                    size += 1
                    spaced = True
                continue
            if kind == 0:
                continue
            spaced = False
            folded = lower[point]
            if folded < 0x80:
                out[size] = folded
                size += 1
            elif folded < 0x800:
                out[size], out[size + 1] = 0xC0 | (folded >> 6), 0x80 | (folded & 0x3F)
                size += 2
            else:
                out[size] = 0xE0 | (folded >> 12)
                out[size + 1], out[size + 2] = 0x80 | ((folded >> 6) & 0x3F), 0x80 | (folded & 0x3F)
                size += 3
        if unfolded[number]:
            size = start
        out_offsets[number + 1] = size
    return out[:size], out_offsets, unfolded


def plain_strings(texts: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    texts = one_array(texts)
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    return pc.fill_null(texts, "") if texts.null_count else texts


# Byte classes of the ASCII rule: 1 a letter or digit (kept, lower-cased), 2 white space (a word
# break), 0 the rest (dropped). Bytes of non-ASCII characters (only in regex-normalised text,
# which holds letters, digits and spaces) are kept as they are.
_CLASS = np.zeros(256, np.uint8)
_CLASS[list(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")] = 1
_CLASS[list(b"\t\n\x0b\x0c\r ")] = 2  # the ASCII part of Unicode White_Space (regex `\s`)
_CLASS[128:] = 1
LOWER_BYTE = np.frombuffer(bytes(range(256)).lower(), np.uint8).copy()
KEEP_BYTE = (_CLASS == 1).astype(np.int64)
NOT_BREAK_BYTE = (_CLASS != 2).astype(np.int64)


@numba.njit(nogil=True, cache=True)
def _squeeze_ascii(data, offsets):  # pragma: no cover (compiled; tested through callers)
    """The kept bytes of each text, lower-cased and back to back, their offsets, and which
    texts hold a byte beyond ASCII (for those, what is kept means nothing).

    Branch-free: every byte is stored and the end moves on only past a kept one. Prose mixes
    letters, spaces and punctuation too irregularly for branch prediction (2.7x slower)."""
    kept = np.empty(len(data) + 1, np.uint8)
    kept_offsets = np.zeros(len(offsets), np.int64)
    beyond_ascii = np.zeros(len(offsets) - 1, np.bool_)
    size = 0
    for text in range(len(offsets) - 1):
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test, a vector loop
        high = 0
        for position in range(len(part)):
            byte = part[position]
            kept[size] = LOWER_BYTE[byte]
            size += KEEP_BYTE[byte]
            high |= byte
        kept_offsets[text + 1] = size
        beyond_ascii[text] = high >= 128
    return kept[:size], kept_offsets, beyond_ascii


@numba.njit(nogil=True, cache=True)
def _cut_words(data, offsets, chosen):  # pragma: no cover (compiled; tested through callers)
    """The words of each chosen text (lower-cased, punctuation dropped, split at white space):
    their letters back to back, their offsets, and the text each belongs to.

    Branch-free as `_squeeze_ascii`: the slots of the next word are written at every byte, and
    only a letter after a break moves on to a new word."""
    letters = np.empty(len(data) + 1, np.uint8)
    most_words = (len(data) + len(chosen)) // 2 + 1  # a word takes a byte and a break
    word_offsets = np.zeros(most_words + 2, np.int64)
    word_text = np.empty(most_words + 1, np.int64)
    size = words = 0
    for text in chosen:
        in_word = 0
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test, a vector loop
        for position in range(len(part)):
            byte = part[position]
            keep = KEEP_BYTE[byte]
            word_text[words] = text
            words += keep & (1 - in_word)  # a letter after a break starts a word
            letters[size] = LOWER_BYTE[byte]
            size += keep
            word_offsets[words] = size  # unchanged by a byte that is not kept
            in_word = keep | (in_word & NOT_BREAK_BYTE[byte])
    return letters[:size], word_offsets[:words + 1], word_text[:words]


def whitespace_tokens(texts: pa.Array, chosen: np.ndarray | None = None) -> np.ndarray:
    """How many runs of non-space characters (regex `\\S+`) each text holds (a null: 0), or each
    chosen text (their indices: the rest are not read). ASCII texts by a compiled pass over the
    bytes, which also finds the others; those by a pass over their code points, white space as
    the regex knows it (`REGEX_SPACE`)."""
    texts = plain_strings(texts)
    chosen = np.arange(len(texts)) if chosen is None else chosen
    offsets, data = string_buffers(texts)
    counts, non_ascii = _count_runs(data, offsets, chosen)
    if non_ascii.any():
        counts[non_ascii] = _count_runs_utf8(data, offsets, chosen[non_ascii], REGEX_SPACE)
    return counts


# The code points the regex `\s` matches (Unicode's White_Space: none is beyond U+3000), read off
# polars itself.
REGEX_SPACE = pl.Series([chr(point) for point in range(0x3001)]).str.contains(r"^\s$").to_numpy()


@numba.njit(nogil=True, cache=True)
def _count_runs_utf8(data, offsets, chosen, spaces):  # pragma: no cover (compiled; tested via callers)
    """Runs of code points that are not white space (`spaces`, by code point) in each chosen
    text (valid UTF-8)."""
    counts = np.zeros(len(chosen), np.int64)
    for number in range(len(chosen)):
        text = chosen[number]
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test
        runs, inside = 0, 0
        for position in range(len(part)):
            byte = part[position]
            if 0x80 <= byte < 0xC0:  # inside a code point
                continue
            if byte < 0x80:
                point = np.int64(byte)
            elif byte < 0xE0:
                point = ((np.int64(byte) & 0x1F) << 6) | (part[position + 1] & 0x3F)
            elif byte < 0xF0:
                point = (((np.int64(byte) & 0x0F) << 12) | ((np.int64(part[position + 1]) & 0x3F) << 6)
                         | (part[position + 2] & 0x3F))
            else:
                point = np.int64(len(spaces))  # beyond the table: not white space
            keep = 1 if point >= len(spaces) else 1 - np.int64(spaces[point])
            runs += keep & (1 - inside)
            inside = keep
        counts[number] = runs
    return counts


@numba.njit(nogil=True, cache=True)
def _count_runs(data, offsets, chosen):  # pragma: no cover (compiled; tested through callers)
    """Runs of bytes that are not ASCII white space in each chosen text, and which of them hold
    a non-ASCII byte (their count is left to the caller)."""
    counts = np.zeros(len(chosen), np.int64)
    non_ascii = np.zeros(len(chosen), np.bool_)
    for number in range(len(chosen)):
        text = chosen[number]
        runs, inside, high = 0, 0, 0
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test, a vector loop
        for position in range(len(part)):
            byte = part[position]
            keep = NOT_BREAK_BYTE[byte]
            runs += keep & (1 - inside)  # a non-space after a space (or the start) opens a run
            inside = keep
            high |= byte >> 7
        counts[number] = runs
        non_ascii[number] = high
    return counts, non_ascii


def _strings(offsets: np.ndarray, data: np.ndarray) -> pa.LargeStringArray:
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int64)),
                                            pa.py_buffer(data))
