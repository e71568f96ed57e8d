"""ftfy and langdetect, the two pure-Python libraries the stages call once per text, in a module
that imports nothing else: a helper process (`offload`) imports only this to run them."""

from __future__ import annotations

import threading

import ftfy
from langdetect import DetectorFactory, detector_factory
from langdetect.lang_detect_exception import LangDetectException

# HTML entities stay (code answers quote them on purpose); curly quotes and full-width forms are
# legitimate text (and CJK punctuation), so they stay too. The rest is ftfy's default.
FTFY_CONFIG = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False,
                                   fix_character_width=False, explain=False)
UNKNOWN = "unknown"
DetectorFactory.seed = 0  # each detector seeds its own generator with this: deterministic
_FACTORY_LOCK = threading.Lock()


def fix_turn_text(text: str) -> str:
    """The library's repair of one turn: `ftfy.fix_text` with `FTFY_CONFIG` (no fast path)."""
    return ftfy.fix_text(text, FTFY_CONFIG)


def detect_language(text: str | None) -> str:
    """langdetect's answer for one text, the same on every run, thread and process."""
    detector = _detector_factory().create()
    detector.append(text or "")
    try:
        return detector.detect()
    except LangDetectException:
        return UNKNOWN


def _detector_factory() -> detector_factory.DetectorFactory:
    # langdetect loads its profiles on first use into a global; two threads doing that at once
    # see a half-loaded list and answer differently, so the loading is done once, under a lock.
    with _FACTORY_LOCK:
        detector_factory.init_factory()
    return detector_factory._factory
