"""ftfy and langdetect, the two pure-Python libraries the stages call once per text, in a module
that imports nothing else: a helper process (`offload`) imports only this to run them."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

import ftfy
from ftfy import badness, chardata, fixes
from langdetect import DetectorFactory, detector_factory
from langdetect.lang_detect_exception import LangDetectException

from . import langdetect_trials
from .required_chars import required_characters

# HTML entities stay (code answers quote them on purpose); curly quotes and full-width forms are
# legitimate text (and CJK punctuation), so they stay too. The rest is ftfy's default.
FTFY_CONFIG = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False,
                                   fix_character_width=False, explain=False)
UNKNOWN = "unknown"
DetectorFactory.seed = 0  # each detector seeds its own generator with this: deterministic
_FACTORY_LOCK = threading.Lock()


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
# tables), and so answers as ftfy's own does on every text: ftfy ~4x faster where it repairs.
def _screened(own: Callable[[str], object], characters: Iterable[int],
              otherwise: Callable[[str], object]) -> Callable[[str], object]:
    """`own`, not run on a text that holds none of `characters`: `otherwise(text)` is its answer."""
    search = _search_for(characters)
    return lambda text: own(text) if search(text) else otherwise(text)


def _unchanged(text: str) -> str:
    return text


SCREENED_FTFY: dict[str, tuple[Callable, Callable]] = {  # name -> (ftfy's own, screened)
    "is_bad": (badness.is_bad, _screened(badness.is_bad, required_characters(
        badness.BADNESS_RE.pattern, badness.BADNESS_RE.flags), otherwise=lambda text: False)),
    "fix_latin_ligatures": (fixes.fix_latin_ligatures,
                            _screened(fixes.fix_latin_ligatures, chardata.LIGATURES, otherwise=_unchanged)),
    "remove_control_chars": (fixes.remove_control_chars,
                             _screened(fixes.remove_control_chars, chardata.CONTROL_CHARS, otherwise=_unchanged)),
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


def detect_language(text: str | None) -> str:
    """langdetect's answer for one text, the same on every run, thread and process."""
    detector = _detector_factory().create()
    detector.append(text or "")
    try:
        return langdetect_trials.detect(detector)
    except LangDetectException:
        return UNKNOWN


def _detector_factory() -> detector_factory.DetectorFactory:
    # langdetect loads its profiles on first use into a global; two threads doing that at once
    # see a half-loaded list and answer differently, so the loading is done once, under a lock.
    with _FACTORY_LOCK:
        detector_factory.init_factory()
    return detector_factory._factory
