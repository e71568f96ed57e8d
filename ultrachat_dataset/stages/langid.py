"""Language of each dialogue: decided in vectors where English is certain, langdetect elsewhere.

langdetect costs about 1.6 ms a call and is random unless seeded; 1.47M calls would take 40
minutes. Almost all of UltraChat is plain English prose, which is certain from two cheap signals
computed over the whole batch at once: at most 1% of characters are letters beyond ASCII, and common
English function words make up a large share of the words (French, German or Spanish prose has almost none of
them). Only the rest (other scripts, accented Latin text, code-heavy or very short dialogues) go to
langdetect, seeded so the answer never changes between runs. The cheap signals read the first
`SAMPLE_CHARS` characters of the dialogue (its turns joined by newlines), langdetect the first
`LANGDETECT_CHARS` of them: its cost grows with the text (4 ms a call at 600 characters, 2 ms at
300) and 300 characters of prose decide the language as 600 do (tested).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from langdetect import DetectorFactory, detector_factory
from langdetect.lang_detect_exception import LangDetectException

from ..rejects import rejects_from_rows
from ..turns import flags, opening_text, rows_where

SAMPLE_CHARS = 600
LANGDETECT_CHARS = 300
# Frequent English words that are not words of French, German, Spanish, Italian or Portuguese.
ENGLISH_WORDS = ("the", "and", "of", "to", "is", "that", "it", "for", "with", "are", "this",
                 "be", "you", "have", "what", "can", "how", "which", "will", "your", "they",
                 "their", "from", "by", "or", "an", "at", "more", "about", "would", "should")
MIN_WORDS = 20  # fewer words than this: too little evidence for the cheap path
MIN_ENGLISH_SHARE = 0.15  # English prose: ~30% of words are in the list; other languages: < 3%
MAX_NON_ASCII_LETTERS = 0.01  # of characters: an accented name is fine; accented prose is not
UNKNOWN = "unknown"
DetectorFactory.seed = 0  # each detector seeds its own generator with this: deterministic
_FACTORY_LOCK = threading.Lock()


@dataclass
class LanguageResult:
    languages: pa.Array  # one code per row: "en", "fr", "zh-cn", ..., or "unknown"
    cheap: np.ndarray  # rows decided without langdetect


def detect_languages(data: pa.Array | pa.ChunkedArray) -> LanguageResult:
    samples = opening_text(data, SAMPLE_CHARS)
    text = pl.from_arrow(samples)
    # Cheap signals, vectorised: words (spaces + 1), English function words, non-ASCII letters.
    words = text.str.count_matches(" ", literal=True).to_numpy() + 1
    english = text.str.to_lowercase().str.count_matches(
        r"\b(?:" + "|".join(ENGLISH_WORDS) + r")\b").to_numpy()
    chars = text.str.len_chars().to_numpy()
    # Letters beyond ASCII (typographic quotes, dashes and spaces are not letters), counted only
    # where the sample has any non-ASCII character at all: rarely.
    non_ascii = np.zeros(len(chars), np.int64)
    has_non_ascii = np.flatnonzero(text.str.len_bytes().to_numpy() > chars)
    if len(has_non_ascii):
        some = text.gather(has_non_ascii)
        non_ascii[has_non_ascii] = (some.str.count_matches(r"\p{L}").to_numpy()
                                    - some.str.count_matches(r"[A-Za-z]").to_numpy())
    cheap = ((words >= MIN_WORDS) & (english >= MIN_ENGLISH_SHARE * words)
             & (non_ascii <= MAX_NON_ASCII_LETTERS * chars))
    languages = np.full(len(words), "en", dtype=object)
    texts = samples.to_pylist() if not cheap.all() else []
    for index in np.flatnonzero(~cheap):
        languages[index] = detect_language(texts[index][:LANGDETECT_CHARS])
    return LanguageResult(pa.array(languages.tolist(), pa.string()), cheap)


def detect_language(text: str | None) -> str:
    """langdetect's answer for one text, the same on every run and on any thread."""
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


def filter_languages(rows: pa.Table, keep: tuple[str, ...]) -> tuple[pa.Table, pa.Table, LanguageResult]:
    """Rows in a language of `keep` (with a `language` column), and rejects `lang_<code>`."""
    result = detect_languages(rows.column("data"))
    rows = rows.append_column("language", result.languages)
    kept = flags(pc.is_in(result.languages, pa.array(list(keep), pa.string())))
    rejected = rows.filter(pa.array(~kept))
    reasons = pc.binary_join_element_wise("lang_", rejected.column("language"), "")
    details = pc.binary_join_element_wise(
        "detected ", rejected.column("language"), f" in the opening; kept: {', '.join(keep)}", "")
    return rows_where(rows, kept), rejects_from_rows(rejected, "langid", reasons, details), result
