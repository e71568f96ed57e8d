"""cp1256 mojibake: UTF-8 text once decoded as Windows-1256 (Arabic), which ftfy cannot undo (it
knows no cp1256). A two-byte UTF-8 character (`®` is C2 AE, `é` is C3 A9) then reads as an Arabic
letter and a symbol: "HyperX®" became "HyperXآ®", "café" "cafأ©".

Repaired only where it cannot be Arabic text: the pair (a cp1256 reading of a UTF-8 lead byte,
then of a continuation byte that is not an Arabic letter) sits after a Latin letter, a digit,
white space or the start, before no Arabic letter, in a turn with no other Arabic letter.
"""

from __future__ import annotations

import re


def _cp1256(byte: int) -> str | None:
    try:
        return bytes([byte]).decode("cp1256")
    except UnicodeDecodeError:
        return None


_ARABIC_LETTER = r"\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"
_LEADS = "".join(filter(None, map(_cp1256, range(0xC2, 0xE0))))
_CONTINUATIONS = "".join(char for char in filter(None, map(_cp1256, range(0x80, 0xC0)))
                         if not re.match(f"[{_ARABIC_LETTER}]", char))
PAIR = re.compile(f"(?<![{_ARABIC_LETTER}])([{re.escape(_LEADS)}][{re.escape(_CONTINUATIONS)}])"
                  f"(?![{_ARABIC_LETTER}])")
# What picks the turns to look at (Rust regex, for `turns.matches`): a lead glued to a Latin
# letter or digit, then a continuation.
CANDIDATE = f"[A-Za-z0-9\\s][{''.join(_LEADS)}][{''.join(_CONTINUATIONS)}]"
LEAD_POINTS = frozenset(map(ord, _LEADS))  # a turn with none of them holds no candidate
_OTHER_ARABIC = re.compile(f"[{_ARABIC_LETTER}]")


def fix_cp1256(text: str) -> str:
    """The text with each cp1256-misread UTF-8 pair read back, where it is surely not Arabic."""
    pairs = [match for match in PAIR.finditer(text)
             if match.start() == 0 or re.match(r"[A-Za-z0-9\s]", text[match.start() - 1])]
    if not pairs or _OTHER_ARABIC.search(PAIR.sub("", text)):
        return text  # some Arabic letter stays: the turn may be Arabic, leave it
    pieces, last = [], 0
    for match in pairs:
        try:
            fixed = match.group(1).encode("cp1256").decode("utf-8")
        except UnicodeError:
            continue
        pieces += [text[last:match.start()], fixed]
        last = match.end()
    return "".join(pieces) + text[last:]
