"""Sentence case: capitalise a lowercase word that starts a sentence ("Hello. how are you?"), and
leave the text alone wherever that could be wrong.

A capital goes after `.`, `!` or `?` and spaces, before a plain lowercase word, except:
- after an abbreviation (`ABBREVIATIONS`: units, months, streets, titles, US states, Latin and
  business ones: "1 tsp. salt", "Sept. through Nov.", "the Dept. of Health");
- after a word ending in `!` or `?` that is a name or a title: all caps ("the BRAVO! website"),
  capitalised within a sentence ("Metallica Pop! figures", "love Yahoo! for"), or written so
  anywhere in the dialogue (`bang_names`: "poems in Roar! draw ..." makes "Roar! is" a name too,
  and "the metallica pop! figures" a name written in lower case);
- inside code (fences and backticks), URLs, quotations ("..." and “...”), and lines of verse or of
  a list: two or more short lines in a row;
- anywhere in a turn that pastes material to work on (the release's templates: "Given the text:",
  "Here is a piece of text:", "Answer according to:", ...): it is quoted as it was written.
"""

from __future__ import annotations

import functools
import re

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from ..turns import string_buffers
from .normalize import plain_strings

# The ending word (2+ letters, not after a letter or dot: not "e.g." or "config.py."), the spaces,
# and, looked ahead so that it can end a sentence itself, a plain lowercase word.
_FIX = re.compile(r"(?<![A-Za-z.])([A-Za-z]{2,})([.!?]) +(?=[a-z]+(?:[ ,;:!?]|\.(?:\s|$)|$))")
# The mark, spaces and lowercase letter each match of `_FIX` holds: a literal-led search that
# finds the first cheaply (`_FIX` tries its look-behind at every letter: ~4x the time a turn).
_MARK_THEN_LOWER = re.compile(r"[.!?] +[a-z]")

ABBREVIATIONS = frozenset({
    # Latin, references and business
    "etc", "vs", "approx", "cf", "al", "fig", "figs", "eq", "no", "nos", "vol", "vols",
    "pp", "ch", "sec", "secs", "ed", "eds", "op", "cit", "ibid", "viz", "ca", "est", "dept", "depts",
    "univ", "corp", "inc", "ltd", "co", "bros", "assn", "intl", "natl", "govt", "misc", "ref", "refs",
    # titles
    "mr", "mrs", "ms", "dr", "prof", "rev", "hon", "gen", "col", "capt", "lt", "sgt", "cmdr", "adm",
    "gov", "sen", "rep", "reps", "pres", "supt", "jr", "sr", "st", "mt", "ft",
    # streets and places
    "ave", "blvd", "rd", "ln", "ct", "hwy", "pkwy", "pl", "sq", "ste", "apt", "bldg", "fl",
    # months and days
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue",
    "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    # units
    "tsp", "tsps", "tbsp", "tbsps", "oz", "lb", "lbs", "qt", "qts", "pt", "pts", "gal", "gals", "doz",
    "pkg", "pkgs", "kg", "mg", "ml", "cl", "dl", "cm", "mm", "km", "mi", "yd", "yds", "hr", "hrs",
    "min", "mins", "temp", "deg",
    # US states
    "ala", "ariz", "ark", "calif", "colo", "conn", "del", "fla", "ga", "ill", "ind", "kan", "kans",
    "ky", "la", "md", "mass", "mich", "minn", "miss", "mo", "mont", "neb", "nebr", "nev", "okla", "ore",
    "pa", "penn", "tenn", "tex", "va", "vt", "wash", "wis", "wisc", "wyo",
})

# Each abbreviation's lower-case bytes packed in a number (little-endian), sorted for a search.
_ABBREVIATION_CODES = np.array(sorted(int.from_bytes(word.encode(), "little") for word in ABBREVIATIONS),
                               np.uint64)
MAY_FIX, NEEDS_NAMES = 1, 2  # what `sentence_starts` finds in a turn


def sentence_starts(turns: pa.Array) -> np.ndarray:
    """Per turn, in one compiled pass over the bytes: MAY_FIX where `_FIX` (but its look-ahead)
    finds a word that no rule of `fix_sentence_case` passes over without reading on (a `.` after
    an abbreviation, `!` or `?` after a word in capitals); with NEEDS_NAMES too where that word
    ends in `!` or `?` (the dialogue's `bang_names` then decide). A turn without MAY_FIX is left as it is by
    `fix_sentence_case`, which then needs no call (a test holds this on hard text).

    A vector pass (`_may_start_sentence`) picks the few turns with a mark, a space and a
    lowercase letter or a second space at all; the compiled pass reads only those."""
    found = np.zeros(len(turns), np.uint8)
    offsets, data = string_buffers(plain_strings(turns))
    chosen = np.flatnonzero(_may_start_sentence(data, offsets))
    if len(chosen):
        offsets, data = string_buffers(plain_strings(turns.take(pa.array(chosen))))
        found[chosen] = _sentence_starts(data, offsets, _ABBREVIATION_CODES)
    return found


@numba.njit(nogil=True, cache=True)
def _may_start_sentence(data, offsets):  # pragma: no cover (compiled; tested via sentence_starts)
    """Which texts hold `.`, `!` or `?`, a space, then a lowercase ASCII letter or another space:
    every text where `_FIX` can match does. Arithmetic over each byte and the two after it, no
    branch, so that the compiler makes it a vector loop (~2x faster than a regex search)."""
    found = np.zeros(len(offsets) - 1, np.bool_)
    for text in range(len(offsets) - 1):
        part = data[offsets[text]:offsets[text + 1]]  # indices from 0: no negative-index test
        seen = 0
        for position in range(len(part) - 2):
            mark, space, after = part[position], part[position + 1], part[position + 2]
            seen |= (((mark == 46) | (mark == 33) | (mark == 63)) & (space == 32)
                     & ((np.uint8(after - 97) < 26) | (after == 32)))
        found[text] = seen
    return found


@numba.njit(nogil=True, cache=True)
def _sentence_starts(data, offsets, abbreviations):  # pragma: no cover (compiled; tested via sentence_starts)
    """`_FIX`'s match, by bytes (its classes are ASCII): a mark `.!?`, one or more spaces, a
    lowercase letter; before the mark a run of 2+ ASCII letters not preceded by a letter or `.`."""
    found = np.zeros(len(offsets) - 1, np.uint8)
    for text in range(len(offsets) - 1):
        start, end = offsets[text], offsets[text + 1]
        for position in range(start + 2, end - 2):  # 2 letters before, a space and a letter after
            mark = data[position]
            if (mark != 46 and mark != 33 and mark != 63) or data[position + 1] != 32:
                continue
            after = position + 1
            while after < end and data[after] == 32:
                after += 1
            if after == end or not 97 <= data[after] <= 122:
                continue
            first = position
            while first > start and 97 <= (data[first - 1] | 32) <= 122:  # an ASCII letter
                first -= 1
            if position - first < 2 or (first > start and data[first - 1] == 46):
                continue
            if mark != 46:  # an all-caps word before `!` or `?` is a name ("BRAVO!"): no fix
                capitals = 0
                for index in range(first, position):
                    capitals += data[index] < 97
                if capitals < position - first:
                    found[text] |= MAY_FIX | NEEDS_NAMES
                continue
            if position - first <= 8:
                code = np.uint64(0)
                for index in range(first, position):
                    code |= np.uint64(data[index] | 32) << np.uint64(8 * (index - first))
                at = np.searchsorted(abbreviations, code)
                if at < len(abbreviations) and abbreviations[at] == code:
                    continue
            found[text] |= MAY_FIX
    return found


# What is left as written: code (fences, backticks), URLs and quotations, each part of the pattern
# with the literals it cannot match without. A text is searched only with the parts whose literal
# it holds: the spans are the same (a part that can match nowhere never wins a position), and
# the URL part, whose `\S*` backtracks at every character of a long token, is rarely tried.
_PROTECTED_PARTS = ((("```",), r"```.*?(?:```|$)"), (("`",), r"`[^`\n]*`"),
                    (("://", "www."), r"\S*(?:://|www\.)\S*"),
                    (('"',), r'"[^"\n]*(?:\n(?!\s*\n)[^"\n]*)*"'), (("“",), r"“[^”]*”"))
# The release's templates for pasted material (user turns quote an article, a poem, a review).
_PASTED_MATERIAL = re.compile(
    r"(?i)\b(?:given the (?:text|material|passage)|here is a piece of text|answer according to|"
    r"generate according to|read the passage below|based on the (?:passage|text|material) above|"
    r"(?:text|passage|material|article|poem):\s*\n)")
# In an ASCII text a match holds one of these, lower-cased (a cheap test before the regex; beyond
# ASCII, case-insensitive matching is Unicode's and the regex alone decides).
_PASTED_WORDS = ("given the", "here is a piece of text", "according to", "read the passage",
                 "based on the", "text:", "passage:", "material:", "article:", "poem:")
_SHORT_LINE = 60  # characters: two such lines in a row are verse or a list
# A capitalised word ending in ! or ? inside a sentence (after a word, not after . ! ? or a line
# start): a name ("Metallica Pop!", "in Roar!"), not an interjection ("Great!").
_NAME_IN_SENTENCE = re.compile(r"(?<=[A-Za-z0-9,;] )([A-Z][A-Za-z]*)[!?]")


# The same in Rust's syntax (no look-behind: the letter and the space before are part of the
# match, which can overlap no other, as a match ends in `!` or `?`).
_NAME_IN_SENTENCE_MATCH = r"[A-Za-z0-9,;] [A-Z][A-Za-z]*[!?]"


def bang_names(texts: list[str]) -> frozenset[str]:
    """The words of a dialogue written as names before `!` or `?` (lower-cased)."""
    return frozenset(name.lower() for text in texts for name in _NAME_IN_SENTENCE.findall(text))


def bang_names_by_dialogue(texts: pa.Array, dialogues: np.ndarray) -> dict[int, frozenset[str]]:
    """`bang_names` of each dialogue, from its turns' `texts` (each turn's dialogue in
    `dialogues`), in one vector pass (polars)."""
    found = pl.DataFrame({"dialogue": dialogues, "text": pl.from_arrow(texts)}).select(
        "dialogue", pl.col("text").str.extract_all(_NAME_IN_SENTENCE_MATCH)).explode("text").drop_nulls()
    names: dict[int, set[str]] = {int(dialogue): set() for dialogue in np.unique(dialogues)}
    for dialogue, match in found.iter_rows():
        names[dialogue].add(match[2:-1].lower())  # the word between "x " and the mark
    return {dialogue: frozenset(words) for dialogue, words in names.items()}


def fix_sentence_case(text: str, names: frozenset[str] = frozenset()) -> str:
    """The text with the sentence starts capitalised where that is certain (see the module).
    `names`: the dialogue's `bang_names` (this turn's are found here in any case). The cheap
    tests go first: most candidates end at an abbreviation, and then nothing else is read."""
    first = _MARK_THEN_LOWER.search(text)  # in every match of `_FIX`: none starts before its word
    if first is None:
        return text
    fixes = [match for match in _FIX.finditer(text, _word_start(text, first.start()))
             if match.group(2) != "." or match.group(1).lower() not in ABBREVIATIONS]
    if any(match.group(2) != "." for match in fixes):
        names = names | bang_names([text])
        fixes = [match for match in fixes if _ends_a_sentence(match, names)]
    if not fixes or pastes_material(text):
        return text
    protected = protected_spans(text) + _verse_lines(text)
    starts = [match.end() for match in fixes
              if not any(low <= match.start() < high for low, high in protected)]
    if not starts:
        return text
    chars = list(text)
    for start in starts:
        chars[start] = chars[start].upper()
    return "".join(chars)


def _word_start(text: str, end: int) -> int:
    """Where the run of ASCII letters that ends at `end` starts."""
    start = end
    while start and text[start - 1].isascii() and text[start - 1].isalpha():
        start -= 1
    return start


def pastes_material(text: str) -> bool:
    """Whether the turn pastes material to work on (`_PASTED_MATERIAL`)."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in _PASTED_WORDS):
            return False
    return _PASTED_MATERIAL.search(text) is not None


def protected_spans(text: str) -> list[tuple[int, int]]:
    """The spans of code, URLs and quotations in the text (`_PROTECTED_PARTS`)."""
    pattern = _protected_pattern(tuple(any(literal in text for literal in literals)
                                       for literals, _ in _PROTECTED_PARTS))
    return [match.span() for match in pattern.finditer(text)] if pattern else []


@functools.cache
def _protected_pattern(present: tuple[bool, ...]) -> re.Pattern | None:
    """The protected parts that may match, given which parts' literals a text holds."""
    parts = [pattern for (_, pattern), here in zip(_PROTECTED_PARTS, present) if here]
    return re.compile("|".join(parts), re.S) if parts else None


def _ends_a_sentence(match: re.Match, names: set[str]) -> bool:
    word, mark = match.group(1), match.group(2)
    if mark == ".":
        return word.lower() not in ABBREVIATIONS
    return not word.isupper() and word.lower() not in names


def _verse_lines(text: str) -> list[tuple[int, int]]:
    """The spans of lines that have a short neighbour and are short themselves (a code fence's
    marks are not lines of verse)."""
    lines, start = [], 0
    for line in text.split("\n"):
        lines.append((start, start + len(line)))
        start += len(line) + 1
    short = [0 < high - low <= _SHORT_LINE and not text.startswith("```", low) for low, high in lines]
    return [span for index, span in enumerate(lines) if short[index]
            and ((index > 0 and short[index - 1]) or (index + 1 < len(lines) and short[index + 1]))]
