"""Which texts hold a character of each of a few sets, in one compiled pass over their bytes.

The repairs' exact tests (ftfy's gate, cp1256 mojibake) are regexes over the turns beyond
printable ASCII, ~1 ns a byte each. Each can only hold where the text has one of a few
characters (`ftfy_gate.TRIGGERS`, `mojibake.LEAD_POINTS`): this pass finds, for all the sets at
once, the turns that have one, and only those are searched. A character beyond the Basic
Multilingual Plane is counted as in every set (the table stops there: ~64 KB).
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
import numpy as np
import pyarrow as pa

from ..turns import string_buffers
from .normalize import plain_strings

_PLANE = 0x10000  # the table covers the Basic Multilingual Plane


class CharacterSets:
    """Up to 8 named sets of code points; `held` says which texts hold a character of each."""

    def __init__(self, sets: dict[str, Iterable[int]]):
        if len(sets) > 8:
            raise ValueError("at most 8 sets: one bit of a byte each")
        self.bits = {name: 1 << index for index, name in enumerate(sets)}
        self.table = np.zeros(_PLANE, np.uint8)
        for name, points in sets.items():
            points = np.fromiter(points, np.int64)
            self.table[points[points < _PLANE]] |= self.bits[name]
        self.table[0xD800:0xE000] = 0xFF  # surrogates: UTF-8 cannot hold them, but be safe

    def held(self, texts: pa.Array, among: np.ndarray) -> dict[str, np.ndarray]:
        """For each set, which of the texts `among` hold one of its characters (the others are
        not read and hold none)."""
        chosen = np.flatnonzero(among)
        found = np.zeros(len(among), np.uint8)
        if len(chosen):
            offsets, data = string_buffers(plain_strings(texts))
            found[chosen] = _held(data, offsets, chosen, self.table)
        return {name: (found & bit) > 0 for name, bit in self.bits.items()}


@numba.njit(nogil=True, cache=True)
def _held(data, offsets, chosen, table):  # pragma: no cover (compiled; tested through CharacterSets)
    """Per chosen text, the OR of the table's bits of its code points (valid UTF-8); a code
    point beyond the table has every bit. ASCII bytes are looked up only when they are not
    printable (few are): the branch is almost never taken."""
    found = np.zeros(len(chosen), np.uint8)
    for number in range(len(chosen)):
        text = chosen[number]
        part = data[offsets[text]:offsets[text + 1]]  # from 0: no negative-index test
        bits = np.uint8(0)
        for position in range(len(part)):
            byte = part[position]
            if 32 <= byte < 127 or 0x80 <= byte < 0xC0:  # printable ASCII, or inside a code point
                continue
            if byte < 0x80:
                bits |= table[byte]
            elif byte < 0xE0:
                bits |= table[((np.int64(byte) & 0x1F) << 6) | (part[position + 1] & 0x3F)]
            elif byte < 0xF0:
                bits |= table[((np.int64(byte) & 0x0F) << 12) | ((np.int64(part[position + 1]) & 0x3F) << 6)
                              | (part[position + 2] & 0x3F)]
            else:
                bits |= np.uint8(0xFF)
        found[number] = bits
    return found
