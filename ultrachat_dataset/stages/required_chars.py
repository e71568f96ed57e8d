"""Which characters every match of a regular expression holds: what lets a cheap search for a
few characters stand in for a costly pattern on text that holds none of them."""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse

# Typography that real English text is full of: where an alternative of a pattern requires one
# of several sets of characters, the set with fewest of these is the one screened for.
_COMMON = frozenset(map(ord, "’‘“”–—…•·°×éèáàíóúñçüöäâêîôû«»©®™"))


def required_characters(pattern: str, flags: int = 0) -> set[int]:
    """Characters one of which every match of a Python pattern holds: of each of its top-level
    alternatives, a set of characters that the alternative requires (a literal, or a class of
    literals and ranges: no negation, category or case folding), the one with fewest ASCII and
    common characters. Read with the standard library's own parser of the pattern syntax; an
    alternative that requires no such set raises (the screen would be unsound)."""
    if flags & re.IGNORECASE:
        raise ValueError("a case-insensitive pattern matches characters its classes do not name")
    tree = sre_parse.parse(pattern, flags)
    top = tree.data
    alternatives = top[0][1][1] if len(top) == 1 and top[0][0] is sre_constants.BRANCH else [tree]
    required: set[int] = set()
    for alternative in alternatives:
        choices = [chars for chars in map(_explicit, alternative.data) if chars]
        if not choices:
            raise ValueError(f"an alternative of the pattern requires no named character: {alternative}")
        required |= min(choices, key=lambda chars: (sum(point < 128 for point in chars),
                                                    len(chars & _COMMON), len(chars)))
    return required


def _explicit(item) -> set[int] | None:
    """The characters a pattern item requires one of, if it names them all, else None."""
    op, value = item
    if op is sre_constants.LITERAL:
        return {value}
    if op is sre_constants.IN and all(kind in (sre_constants.LITERAL, sre_constants.RANGE)
                                      for kind, _ in value):
        return {point for kind, part in value
                for point in ((part,) if kind is sre_constants.LITERAL else range(part[0], part[1] + 1))}
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and value[0] >= 1 \
            and len(value[2].data) == 1:
        return _explicit(value[2].data[0])
    return None


def widest_match(pattern: str, flags: int = 0) -> int | None:
    """The most characters a match of the pattern can span (None: no bound), by the standard
    library's parser."""
    widest = sre_parse.parse(pattern, flags).getwidth()[1]
    return None if widest >= sre_constants.MAXREPEAT else widest
