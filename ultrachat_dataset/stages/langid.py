"""Language of each dialogue: decided in vectors where English is certain, langdetect elsewhere.

langdetect costs about 0.3 ms a call compiled (`langdetect_trials`; 1.8 ms as it
comes) and is random unless seeded; 1.47M calls would take 7 minutes. Almost all of UltraChat is
plain English prose, which is certain from two cheap signals computed over the whole batch at
once: at most 1% of characters are letters beyond ASCII, and common English function words make
up a large share of the words (French, German or Spanish prose has almost none of them). Only
the rest (other scripts, accented Latin text, code-heavy or very short dialogues) go to
langdetect, seeded so the answer never changes between runs. The cheap signals read the first
`SAMPLE_CHARS` characters of the dialogue (its turns joined by newlines), langdetect the first
`LANGDETECT_CHARS` of them: its cost grows with the text (as it comes, 4 ms a call at 600
characters, 2 ms at 300) and 300 characters of prose decide the language as 600 do (tested).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..turns import TurnLayout, add_flag, flags, matches, opening_text, rows_where, string_buffers
from .langdetect_trials import UNKNOWN, detect_language
from .normalize import plain_strings
from .stage import Stage, StageResult, option

SAMPLE_CHARS = 600
LANGDETECT_CHARS = 300
# Frequent English words that are not words of French, German, Spanish, Italian or Portuguese.
ENGLISH_WORDS = ("the", "and", "of", "to", "is", "that", "it", "for", "with", "are", "this",
                 "be", "you", "have", "what", "can", "how", "which", "will", "your", "they",
                 "their", "from", "by", "or", "an", "at", "more", "about", "would", "should")
# Frequent words of French, German, Spanish, Italian, Portuguese and Dutch that English text does
# not use (not "die", "per", "van", "los", "mit", "com", "et", "est": "et al.", "MIT", "Los Angeles").
FOREIGN_WORDS = ("le", "les", "des", "une", "du", "pour", "dans", "avec", "sur", "qui", "pas", "nous",
                 "vous", "sont", "der", "und", "das", "ist", "nicht", "ein", "eine", "auf", "sich",
                 "zu", "sind", "wir", "ich", "el", "por", "una", "para", "y", "que", "como", "pero",
                 "esta", "este", "il", "della", "che", "di", "sono", "gli", "nel", "uma", "het",
                 "een", "niet", "zijn", "voor", "ook")
MIN_WORDS = 20  # fewer words than this: too little evidence for the cheap path
MIN_ENGLISH_SHARE = 0.15  # English prose: ~30% of words are in the list; other languages: < 3%
# Lists, recipes, catalogues and code around English prose have fewer function words: 4% of
# words (a quarter of the prose share) will do where no foreign function word stands beside them.
MIN_LIST_ENGLISH_SHARE = 0.04
MAX_LIST_FOREIGN_SHARE = 0.01
MAX_NON_ASCII_LETTERS = 0.01  # of characters: an accented name is fine; accented prose is not


@dataclass
class LanguageResult:
    languages: pa.Array  # one code per row: "en", "fr", "zh-cn", ..., or "unknown"
    cheap: np.ndarray  # rows decided without langdetect


def detect_languages(data: pa.Array | pa.ChunkedArray) -> LanguageResult:
    samples = plain_strings(opening_text(data, SAMPLE_CHARS))
    signals = text_signals(samples, exact=np.zeros(len(samples), bool))
    words, english, _, chars, beyond = signals  # bounds where not ASCII: see `text_signals`
    # Prose English by the bounds alone (English words at least, letters beyond ASCII at most
    # what the regexes count): typography costs these samples no regex pass.
    surely_prose = ((words >= MIN_WORDS) & (english >= MIN_ENGLISH_SHARE * words)
                    & (beyond <= MAX_NON_ASCII_LETTERS * (chars - 3 * beyond)))
    exactly(samples, signals, (beyond > 0) & ~surely_prose)
    words, english, foreign, chars, non_ascii = signals
    english_evidence = ((english >= MIN_ENGLISH_SHARE * words)
                        | ((english >= MIN_LIST_ENGLISH_SHARE * words)
                           & (foreign <= MAX_LIST_FOREIGN_SHARE * words)))
    cheap = (words >= MIN_WORDS) & english_evidence & (non_ascii <= MAX_NON_ASCII_LETTERS * chars)
    languages = np.full(len(words), "en", dtype=object)
    languages[~cheap] = _langdetect(samples, ~cheap)
    return LanguageResult(pa.array(languages.tolist(), pa.string()), cheap)


def _langdetect(texts: pa.StringArray, chosen: np.ndarray) -> list[str]:
    """langdetect's answer for the chosen texts (their first `LANGDETECT_CHARS` characters), on
    this thread: compiled, it costs ~0.3 ms a text, too little to pay for a helper process (which
    would also need numba: ~140 MB more each)."""
    picked = np.flatnonzero(chosen)
    if not len(picked):
        return []
    return [detect_language(text[:LANGDETECT_CHARS]) for text in texts.take(pa.array(picked)).to_pylist()]


def text_signals(texts: pa.StringArray, exact: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Words (spaces + 1), English and foreign function words, characters and letters beyond
    ASCII of each text. ASCII texts (almost all) by one compiled pass; the others by the regexes,
    which define them (typographic quotes, dashes and spaces are not letters). `exact`: only
    these of the others (the rest keep the compiled pass's bounds: function words at most,
    bytes and code points beyond ASCII at least what the regexes count; `exactly` refines more)."""
    offsets, data = string_buffers(texts)
    words, english, foreign, non_ascii, plain = _ascii_signals(data, offsets, _WORD_CODES, _WORD_KINDS)
    signals = (words, english, foreign, np.diff(offsets), non_ascii)
    exactly(texts, signals, ~plain & (True if exact is None else exact))
    return signals


def exactly(texts: pa.StringArray, signals: tuple[np.ndarray, ...], rows: np.ndarray) -> None:
    """The regexes' signals, in place, for the chosen texts (those that are not ASCII)."""
    chosen = np.flatnonzero(rows)
    if len(chosen):
        words, english, foreign, chars, non_ascii = signals
        text = pl.from_arrow(texts.take(pa.array(chosen)))
        words[chosen], english[chosen], foreign[chosen], chars[chosen] = _regex_signals(text)
        non_ascii[chosen] = (text.str.count_matches(r"\p{L}").to_numpy()
                             - text.str.count_matches(r"[A-Za-z]").to_numpy())


def _regex_signals(text: pl.Series) -> tuple[np.ndarray, ...]:
    """The signals as defined: spaces + 1, whole English and foreign function words in the
    lower-cased text, characters."""
    lower = text.str.to_lowercase()
    return (text.str.count_matches(" ", literal=True).to_numpy() + 1,
            lower.str.count_matches(_words_pattern(ENGLISH_WORDS)).to_numpy(),
            lower.str.count_matches(_words_pattern(FOREIGN_WORDS)).to_numpy(),
            text.str.len_chars().to_numpy())


def _words_pattern(words: tuple[str, ...]) -> str:
    return r"\b(?:" + "|".join(words) + r")\b"


# Function words packed in numbers (a word of up to 8 bytes, little-endian), in an open-addressed
# table: the kernels look each word up with one multiply and, nearly always, one compare.
_TABLE_BITS = 10
_HASH_MULTIPLIER = 0x9E3779B97F4A7C15


def _word_table() -> tuple[np.ndarray, np.ndarray]:
    codes = np.zeros(1 << _TABLE_BITS, np.uint64)
    kinds = np.zeros(1 << _TABLE_BITS, np.uint8)  # 1 English, 2 foreign
    for kind, words in ((1, ENGLISH_WORDS), (2, FOREIGN_WORDS)):
        for word in words:
            code = int.from_bytes(word.encode(), "little")
            slot = ((code * _HASH_MULTIPLIER) % (1 << 64)) >> (64 - _TABLE_BITS)
            while codes[slot]:
                slot = (slot + 1) % len(codes)
            codes[slot], kinds[slot] = code, kind
    return codes, kinds


_WORD_CODES, _WORD_KINDS = _word_table()
_LONGEST_WORD = max(len(word) for word in ENGLISH_WORDS + FOREIGN_WORDS)
_LOWER_WORD_BYTE = np.zeros(256, np.uint8)  # what `\b` separates, in ASCII (letters, digits,
for _byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_":  # underscore),
    _LOWER_WORD_BYTE[_byte] = _byte | 32 if chr(_byte).isalpha() else _byte  # lower-cased; else 0


@numba.njit(inline="always", cache=True)
def _word_kind(code, codes, kinds):  # pragma: no cover (compiled)
    """1 if the packed word is an English function word, 2 if a foreign one, else 0."""
    slot = (code * np.uint64(_HASH_MULTIPLIER)) >> np.uint64(64 - _TABLE_BITS)
    while codes[slot] != 0:
        if codes[slot] == code:
            return kinds[slot]
        slot = (slot + np.uint64(1)) & np.uint64((1 << _TABLE_BITS) - 1)
    return 0


@numba.njit(nogil=True, cache=True)
def _ascii_signals(data, offsets, codes, kinds):  # pragma: no cover (compiled; tested via text_signals)
    """Per text: spaces + 1, words (runs of letters, digits, underscore) equal to an English and
    to a foreign function word once lower-cased, whether all bytes are ASCII, and the code points
    beyond ASCII. In a text that is not ASCII, a word touching a byte beyond ASCII counts as no
    function word: its counts are at most the regexes' (a bound, not the definition)."""
    count = len(offsets) - 1
    words = np.ones(count, np.int64)
    english = np.zeros(count, np.int64)
    foreign = np.zeros(count, np.int64)
    beyond = np.zeros(count, np.int64)
    plain = np.ones(count, np.bool_)
    for text in range(count):
        _, words[text], english[text], foreign[text], beyond[text] = _scan(
            data, offsets[text], offsets[text + 1], codes, kinds, -1.0, 0)
        plain[text] = beyond[text] == 0  # valid UTF-8: a byte beyond ASCII is in a code point
    return words, english, foreign, beyond, plain


@numba.njit(inline="always", cache=True)
def _scan(data, start, end, codes, kinds, give_up_share, words):  # pragma: no cover (compiled)
    """One text's signals (see `_ascii_signals`). With `give_up_share` >= 0, stops as soon as
    English function words are more than that share of the text's `words` (spaces + 1, counted
    by the caller): (where it stopped, else `end`; and the counts so far)."""
    spaces, english, foreign, beyond = 0, 0, 0, 0
    code, length = np.uint64(0), 0
    text = data[start:end]  # indexed from 0: no negative-index test
    for position in range(len(text) + 1):
        byte = text[position] if position < len(text) else np.uint8(32)  # the end: a word ends
        lower = _LOWER_WORD_BYTE[byte]
        if lower != 0:
            if length < 8:
                code |= np.uint64(lower) << np.uint64(8 * length)
            length += 1
            continue
        if byte >= 128:
            beyond += byte >= 0xC0  # the first byte of a code point
            length = 9  # a word with it is no function word
            continue
        if 0 < length <= _LONGEST_WORD:
            kind = _word_kind(code, codes, kinds)
            if kind == 2:
                foreign += 1
            elif kind == 1:
                english += 1
                if give_up_share >= 0 and english > give_up_share * words:
                    return start + position, spaces + 1, english, foreign, beyond
        code, length = np.uint64(0), 0
        spaces += byte == 32 and position < len(text)
    return end, spaces + 1, english, foreign, beyond


TURN_POLICIES = ("flag", "reject", "off")
MIN_TURN_CHARS = 100  # a shorter turn (a name, a greeting, a quoted word) is never judged alone
MAX_TURN_ENGLISH_SHARE = 0.03  # of words: English prose has ~30%; a translation has none
MIN_TURN_OTHER_SCRIPT = 0.3  # of characters: letters beyond ASCII (Arabic, CJK, Cyrillic, ...)
MIN_TURN_FOREIGN_SHARE = 0.05  # of words: French, Spanish, ... prose has ~25% function words


@dataclass
class LanguageOptions:
    languages: tuple[str, ...] | None = option(
        ("en",), "languages to keep (langdetect codes), or any (no detection)", words={"any": None})
    turn_languages: str = option("flag", "a whole turn in another language than the ones kept (a "
                                 "translation; never short turns or code): flag the dialogue "
                                 "(`turn_language`), reject it, or do not look", choices=TURN_POLICIES)

    def __post_init__(self):
        if self.turn_languages not in TURN_POLICIES:
            raise ConfigError(f"turn_languages {self.turn_languages!r}: choose from "
                              f"{', '.join(TURN_POLICIES)}")


class LanguageFilter(Stage):
    """Rows in a language of `languages` (with a `language` column), and rejects `lang_<code>`."""

    name = "langid"
    summary = ("keeps the dialogues in the languages asked for (English by default); marks a turn "
               "in another language")
    reasons = {"lang_<code>": "detected language <code> in the opening, not one of the languages kept",
               "turn_language": "a whole turn is in another language (--turn-languages reject)"}
    flags = {"turn_language": "a whole turn is in another language than the ones kept (a translation)"}
    Options = LanguageOptions

    @property
    def enabled(self) -> bool:
        return self.options.languages is not None

    def apply(self, rows: pa.Table) -> StageResult:
        keep = self.options.languages
        result = detect_languages(rows.column("data"))
        rows = rows.append_column("language", result.languages)
        kept = flags(pc.is_in(result.languages, pa.array(list(keep), pa.string())))
        rejected = rows.filter(pa.array(~kept))
        reasons = pc.binary_join_element_wise("lang_", rejected.column("language"), "")
        details = pc.binary_join_element_wise(
            "detected ", rejected.column("language"), f" in the opening; kept: {', '.join(keep)}", "")
        answered = result.languages.filter(pa.array(~result.cheap)).to_pylist()
        calls = Counter({"langdetect": len(answered),  # and how many of its answers were not kept
                         "langdetect_not_kept": sum(language not in keep for language in answered)})
        rejects = self.rejected(rows, kept, reasons, details)
        rows = rows_where(rows, kept)
        if self.options.turn_languages == "off":
            return StageResult(rows, kept, rejects, calls=+calls)
        foreign, languages, looked_at = self._foreign_turns(rows)
        calls["langdetect"] += looked_at
        if self.options.turn_languages == "flag":
            return StageResult(add_flag(rows, foreign, "turn_language"), kept, rejects, calls=+calls,
                               flagged=+Counter({"turn_language": int(foreign.sum())}))
        kept[np.flatnonzero(kept)[foreign]] = False
        turn_rejects = self.rejected(rows, ~foreign, "turn_language",
                                     [f"turn {language}; kept: {', '.join(keep)}" for language in languages])
        return StageResult(rows_where(rows, ~foreign), kept, pa.concat_tables([rejects, turn_rejects]),
                           calls=+calls)

    def _foreign_turns(self, rows: pa.Table) -> tuple[np.ndarray, list[str], int]:
        """Which dialogues hold a whole turn in another language than the ones kept; for each, "K
        is <code>" of its first such turn; and how many turns langdetect looked at.

        Only long turns that the cheap signals cannot call English go to langdetect: almost no
        English word among 20 or more, or mostly letters beyond ASCII; never code."""
        layout = TurnLayout.of(rows.column("data"))
        turns = plain_strings(layout.turns)
        # The compiled pass's bounds pick the turns that may qualify (a superset); the regexes
        # decide those exactly, so typography in an English turn costs no regex pass.
        offsets, data = string_buffers(turns)
        maybe = np.flatnonzero(_may_be_foreign(data, offsets, _WORD_CODES, _WORD_KINDS))
        look = np.zeros(len(turns), bool)
        if len(maybe):
            words, english, foreign, chars, non_ascii = text_signals(turns.take(pa.array(maybe)))
            look[maybe] = ((chars >= MIN_TURN_CHARS)
                           & (((words >= MIN_WORDS) & (english <= MAX_TURN_ENGLISH_SHARE * words)
                               & (foreign >= MIN_TURN_FOREIGN_SHARE * words))
                              | (non_ascii >= MIN_TURN_OTHER_SCRIPT * chars)))
        if look.any():  # code is no language: only the few turns looked at are searched for it
            chosen = np.flatnonzero(look)
            look[chosen[matches(turns.take(pa.array(chosen)), r"```|[{};]\s*\n")]] = False
        detected = np.full(len(turns), "", dtype=object)
        detected[look] = _by_script_or_words(turns, look)
        doubt = look & (detected == "")
        detected[doubt] = _langdetect(turns, doubt)
        foreign_turn = look & ~np.isin(detected, [*self.options.languages, UNKNOWN])
        foreign = layout.any_per_row(foreign_turn)
        first = layout.first_flagged(foreign_turn)[foreign]
        starts = (np.cumsum(layout.lengths) - layout.lengths)[foreign]
        languages = [f"{position} is {detected[start + position]}" for position, start in zip(first, starts)]
        return foreign, languages, int(doubt.sum())


@numba.njit(nogil=True, cache=True)
def _may_be_foreign(data, offsets, codes, kinds):  # pragma: no cover (compiled; tested via LanguageFilter)
    """Per turn, on the compiled pass's bounds (bytes for characters, code points beyond ASCII
    for letters beyond it, function words at most): long, and either few English function
    words among 20 or more words, or letters beyond ASCII a large share. The words are read
    only as far as needed: until the English ones are too many for the turn to qualify by them
    whatever follows."""
    found = np.zeros(len(offsets) - 1, np.bool_)
    for text in range(len(offsets) - 1):
        start, end = offsets[text], offsets[text + 1]
        chars = end - start
        if chars < MIN_TURN_CHARS:
            continue
        spaces, beyond = 0, 0  # first, in one vector loop: the words (spaces + 1), of which the
        turn = data[start:end]  # English ones are soon too large a share (then the word pass
        for position in range(len(turn)):  # stops), and the code points beyond ASCII
            spaces += turn[position] == 32
            beyond += turn[position] >= 0xC0
        stopped, words, english, _, _ = _scan(data, start, end, codes, kinds, MAX_TURN_ENGLISH_SHARE,
                                              spaces + 1)
        found[text] = ((stopped == end and words >= MIN_WORDS and english <= MAX_TURN_ENGLISH_SHARE * words)
                       or beyond >= MIN_TURN_OTHER_SCRIPT * (chars - 3 * beyond))  # 3 more bytes at most
    return found


# A long turn mostly in one of these scripts is in its language (langdetect's code); a long
# Latin-script turn whose function words are nearly all of one language is in that one.
SCRIPTS = {"ar": r"\p{Arabic}", "ru": r"\p{Cyrillic}", "zh-cn": r"\p{Han}",
           "ja": r"[\p{Hiragana}\p{Katakana}]", "ko": r"\p{Hangul}", "el": r"\p{Greek}",
           "he": r"\p{Hebrew}", "hi": r"\p{Devanagari}", "th": r"\p{Thai}"}
FUNCTION_WORDS = {  # each language's own: none is another's (nor a frequent English word)
    "fr": ("le", "les", "des", "une", "du", "pour", "dans", "avec", "sur", "qui", "pas", "nous", "vous",
           "sont", "est", "et", "au", "aux", "cette", "mais", "ou"),
    "de": ("der", "die", "und", "das", "ist", "nicht", "ein", "eine", "auf", "sich", "zu", "sind", "wir",
           "ich", "mit", "den", "dem", "von", "im", "auch"),
    "es": ("el", "los", "las", "por", "una", "para", "y", "como", "pero", "esta", "este", "del", "con",
           "al", "lo", "su", "fueron", "hasta"),
    "it": ("il", "della", "che", "di", "sono", "gli", "nel", "per", "non", "questo", "anche"),
    "pt": ("os", "uma", "não", "com", "um", "na", "ao", "pelo", "são", "mais"),
    "nl": ("het", "een", "niet", "zijn", "voor", "ook", "van", "op", "dat", "te", "met"),
}
_MOST_OF_LETTERS = 0.6  # of a turn's letters in one script
_CLEAR_LEAD = 2.0  # the most frequent language's function words, against the next one's
_MIN_FUNCTION_WORDS = 5


def _by_script_or_words(turns: pa.StringArray, chosen: np.ndarray) -> list[str]:
    """For the chosen turns, the language their script or their function words make plain (""
    where neither does: langdetect decides those)."""
    text = pl.from_arrow(turns.take(pa.array(np.flatnonzero(chosen)))).alias("text").to_frame()
    letters = text.select(pl.col("text").str.count_matches(r"\p{L}"))["text"].to_numpy()
    counts = text.select(*(pl.col("text").str.count_matches(pattern).alias(code)
                           for code, pattern in SCRIPTS.items()))
    lower = text.select(pl.col("text").str.to_lowercase())
    words = lower.select(*(pl.col("text").str.count_matches(_words_pattern(function_words)).alias(code)
                           for code, function_words in FUNCTION_WORDS.items()))
    found = []
    for index in range(len(letters)):
        script = max(SCRIPTS, key=lambda code: counts[code][index])
        ranked = sorted(((words[code][index], code) for code in FUNCTION_WORDS), reverse=True)
        if counts[script][index] >= _MOST_OF_LETTERS * letters[index] > 0:
            found.append(script)
        elif ranked[0][0] >= _MIN_FUNCTION_WORDS and ranked[0][0] >= _CLEAR_LEAD * ranked[1][0]:
            found.append(ranked[0][1])
        else:
            found.append("")
    return found
