"""Which turns `ftfy.fix_text` (with `textlibs.FTFY_CONFIG`) can change: the only ones sent to it.

Derived from what ftfy 6.3 does (`ftfy/__init__.py`, `fixes.py`, `badness.py`, `chardata.py`).
`fix_text` fixes each line with `fix_and_explain`, which changes a text only through:
- `fix_encoding`, which returns a text unchanged when it is ASCII or when `badness.is_bad` finds
  none of its mojibake patterns (`BADNESS_RE`: character classes and alternations, no lookaround,
  so a pattern found in no part of a turn is found in none of its lines);
- the character fixers, each acting only on its characters: C1 controls (U+0080-U+009F), Latin
  ligatures (`chardata.LIGATURES`), line breaks (CR, NEL, U+2028, U+2029), surrogates (which
  UTF-8, and so Arrow, cannot hold), terminal escapes (ESC) and the control characters of
  `chardata.CONTROL_CHARS` (C0 but tab, LF, FF, CR; DEL; U+206A-U+206F; BOM; U+FFF9-U+FFFC);
  HTML entities, quote curling and character width are off in our configuration;
- NFC normalisation.
So a turn that holds none of those characters, matches no badness pattern and is NFC comes back
unchanged: a property test holds `fix_text(t) == t` for every turn the gate passes over, and each
clause is shown necessary by a turn only it catches. The badness patterns run in polars (Rust
regex, ~100x Python's `re` on these classes), translated from ftfy's own pattern at import.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl
import pyarrow as pa
from ftfy import badness, chardata

from .charsets import CharacterSets
from .textlibs import MOJIBAKE_CHARACTERS

# Every character a fixer of `fix_and_explain` acts on (but the encoding fix).
ACTED_ON = sorted({*chardata.CONTROL_CHARS, *range(0x80, 0xA0), *chardata.LIGATURES,
                   ord("\r"), 0x85, 0x2028, 0x2029, 0x1B})


def _class(code_points: list[int]) -> str:
    """A character class of the code points, as ranges (escaped for Rust's regex)."""
    ranges, start = [], None
    for index, point in enumerate(code_points):
        start = point if start is None else start
        if index + 1 == len(code_points) or code_points[index + 1] != point + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{point:X}}}" if point != start else ""))
            start = None
    return "[" + "".join(ranges) + "]"


def rust_pattern(verbose: str) -> str:
    """A Python verbose pattern of character classes and alternations as a plain Rust pattern:
    white space and comments outside classes dropped (Rust's verbose mode would also drop the
    white space inside them), and the characters Rust reads as class syntax escaped inside."""
    out, in_class, index = [], False, 0
    while index < len(verbose):
        char = verbose[index]
        if in_class and char == "\\":
            out.append(verbose[index:index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
            doubled_dash = char == "-" and "-" in (verbose[index - 1], verbose[index + 1])
            out.append("\\" + char if char in "[&~" or doubled_dash else char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "#":
            newline = verbose.find("\n", index)
            index = len(verbose) if newline < 0 else newline
            continue
        elif char not in " \t\n\r\v\f":  # what Python's verbose mode skips
            out.append(char)
        index += 1
    return "".join(out)


ACTED_ON_PATTERN = _class(ACTED_ON)
BADNESS_PATTERN = rust_pattern(badness.BADNESS_RE.pattern)
# Each a reason ftfy can change a text (texts -> which hold it); a turn none holds is left alone.
# The two patterns run in polars over all the turns at once; NFC is checked by `unicodedata`'s
# quick check (C, a few ns a character) on the turns the patterns left, as polars' normalize
# builds every text anew (~10x slower).
CLAUSES = {
    "acted-on character": lambda texts: texts.str.contains(ACTED_ON_PATTERN).to_numpy(),
    "mojibake pattern": lambda texts: texts.str.contains(BADNESS_PATTERN).to_numpy(),
    "not NFC": lambda texts: np.array([not unicodedata.is_normalized("NFC", text)
                                       for text in texts.to_list()], bool),
}

def _may_break_nfc() -> set[int]:
    """Characters (of the Basic Multilingual Plane) without which a text is NFC: those NFC
    changes alone, those with a combining class (NFC may reorder them), the second characters
    of canonical compositions (NFC may join them to the character before: U+0301 after `e`,
    a Bengali vowel sign after another, Hangul jamo), by this interpreter's `unicodedata`, which
    ftfy's NFC uses too. Tests hold every text of the other characters NFC, and every pair NFC
    composes made of one of these at least."""
    found = set(range(0x1100, 0x1200))  # (surrogates: `CharacterSets` counts them in every set)
    for point in range(0x10000):
        char = chr(point)
        if unicodedata.combining(char) or unicodedata.normalize("NFC", char) != char:
            found.add(point)
        mapping = unicodedata.decomposition(char).split()
        if len(mapping) == 2 and not mapping[0].startswith("<"):  # canonical, two characters
            found.add(int(mapping[1], 16))
    return found


# Per clause, the characters without which it cannot hold: `charsets` finds the turns that hold
# one, and only those are tested (a property test holds the answers those of the clauses alone).
TRIGGERS = {
    "acted-on character": set(ACTED_ON),
    "mojibake pattern": MOJIBAKE_CHARACTERS,
    "not NFC": _may_break_nfc(),
}
SCREEN = CharacterSets(TRIGGERS)


def ftfy_can_change(turns: pa.Array, among: np.ndarray, clauses: dict | None = None,
                    held: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Which of the turns `among` (those with anything but printable ASCII, tab and newline)
    ftfy could change: any of `CLAUSES` holds, each tried on the turns the ones before left that
    hold one of its `TRIGGERS` (`held`: which turns do, from `SCREEN` or a screen with more
    sets; found here if not given)."""
    held = SCREEN.held(turns, among) if held is None else held
    left = np.flatnonzero(among)
    found = np.zeros(len(among), bool)
    for name, holds in (clauses or CLAUSES).items():
        tried = left[held[name][left]]
        if len(tried):
            found[tried[holds(pl.from_arrow(turns.take(pa.array(tried))))]] = True
            left = left[~found[left]]
    return found
