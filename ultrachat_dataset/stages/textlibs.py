"""ftfy, the pure-Python library the clean stage calls once per turn, in a module that imports
nothing else heavy: a helper process (`offload`) imports only this to run it (no numba, no
Arrow: ~85 MB a helper)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import ftfy
from ftfy import badness, chardata, fixes

from .required_chars import required_characters, widest_match

# HTML entities stay (code answers quote them on purpose); curly quotes and full-width forms are
# legitimate text (and CJK punctuation), so they stay too. The rest is ftfy's default.
FTFY_CONFIG = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False,
                                   fix_character_width=False, explain=False)


def fix_turn_text(text: str) -> str:
    """The library's repair of one turn: `ftfy.fix_text` with `FTFY_CONFIG`."""
    return ftfy.fix_text(text, FTFY_CONFIG)


def _search_for(points: Iterable[int]) -> Callable[[str], re.Match | None]:
    """A search for any one of the characters (one pass of `re`'s character-set loop)."""
    return re.compile("[" + "".join(re.escape(chr(point)) for point in sorted(points)) + "]").search


# Three of ftfy's passes look for a few characters in every character of a line: `is_bad` (its
# mojibake pattern, a long alternation: ~70% of ftfy's time on a line it repairs, as it runs on
# the line, on the line repaired, and on the round `fix_and_explain` makes to see nothing more
# changes) and two fixers that are a `str.translate` of every character. Screened, each is
# skipped on text that holds none of the characters it needs (read off ftfy's own pattern and
# tables), and so answers as ftfy's own does on every text: ftfy ~5x faster where it repairs.
def _screened(fixer: Callable[[str], str], characters: Iterable[int]) -> Callable[[str], str]:
    """`fixer`, not run on a text that holds none of `characters` (the text is its answer)."""
    search = _search_for(characters)
    return lambda text: fixer(text) if search(text) else text


# Every match of ftfy's mojibake pattern holds one of these (`ftfy_gate` screens turns by them).
MOJIBAKE_CHARACTERS = required_characters(badness.BADNESS_RE.pattern, badness.BADNESS_RE.flags)
_MOJIBAKE_SEARCH = _search_for(MOJIBAKE_CHARACTERS)
_MOJIBAKE_WIDEST = widest_match(badness.BADNESS_RE.pattern, badness.BADNESS_RE.flags)


def _is_bad(text: str) -> bool:
    """ftfy's `is_bad`, its pattern searched only from where a match can start: every match holds
    one of `MOJIBAKE_CHARACTERS` and spans `_MOJIBAKE_WIDEST` characters at most, so none starts
    before the first of those characters less that span (a line's mojibake is ~130 characters in)."""
    first = _MOJIBAKE_SEARCH(text)
    if first is None:
        return False
    start = 0 if _MOJIBAKE_WIDEST is None else max(0, first.start() - _MOJIBAKE_WIDEST)
    return badness.BADNESS_RE.search(text, start) is not None


SCREENED_FTFY: dict[str, tuple[Callable, Callable]] = {  # name -> (ftfy's own, screened)
    "is_bad": (badness.is_bad, _is_bad),
    "fix_latin_ligatures": (fixes.fix_latin_ligatures,
                            _screened(fixes.fix_latin_ligatures, chardata.LIGATURES)),
    "remove_control_chars": (fixes.remove_control_chars,
                             _screened(fixes.remove_control_chars, chardata.CONTROL_CHARS)),
}


def _install_screens() -> bool:
    """Put the screened passes where ftfy's `fix_text` calls them from (its module's `is_bad`,
    its `FIXERS`); an ftfy whose calls are not where this expects them is left as it is."""
    homes = {name: vars(ftfy) if name == "is_bad" else getattr(ftfy, "FIXERS", {}) for name in SCREENED_FTFY}
    if any(homes[name].get(name) is not own for name, (own, _) in SCREENED_FTFY.items()):
        return False
    for name, (_, screened) in SCREENED_FTFY.items():
        homes[name][name] = screened
    return True


SCREENS_INSTALLED = _install_screens()

