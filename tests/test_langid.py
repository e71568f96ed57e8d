"""Language detection: the cheap path agrees with langdetect wherever it decides."""

import numpy as np
import polars as pl
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ultrachat_dataset.release import _synth_text
from ultrachat_dataset.release.read import ROW_SCHEMA
from ultrachat_dataset.release.synth import _Composer
from ultrachat_dataset.stages.langid import (
    _WORD_CODES,
    _WORD_KINDS,
    MAX_TURN_ENGLISH_SHARE,
    MIN_TURN_CHARS,
    MIN_TURN_OTHER_SCRIPT,
    MIN_WORDS,
    SAMPLE_CHARS,
    LanguageFilter,
    LanguageOptions,
    _may_be_foreign,
    _regex_signals,
    detect_language,
    detect_languages,
    text_signals,
)

CODE_HEAVY = [
    "How do I read a CSV file in Python?",
    "You can use the csv module:\n```python\nimport csv\nwith open('data.csv') as f:\n"
    "    for row in csv.reader(f):\n        print(row)\n```\nThis opens the file and prints "
    "each row. If the file has a header, use `csv.DictReader` instead, which maps each row to "
    "a dict keyed by the column names.",
]


def mixed_dialogues():
    composer = _Composer(np.random.default_rng(3), 0.4)
    dialogues = [composer.dialogue(sector) for sector in ("world", "writing", "assistance") * 20]
    for language in sorted(_synth_text.FOREIGN_SENTENCES):
        dialogues += [composer.foreign_dialogue(language, 2) for _ in range(6)]
    dialogues += [CODE_HEAVY, ["Hi", "Hello!"], ["Naïve café crème brûlée?", "Oui, très bon."]]
    return dialogues


def test_cheap_path_agrees_with_langdetect_on_a_mixed_corpus():
    dialogues = mixed_dialogues()
    result = detect_languages(pa.array(dialogues, pa.list_(pa.string())))
    languages = result.languages.to_pylist()
    for dialogue, language, cheap in zip(dialogues, languages, result.cheap):
        # langdetect on the whole sample: reading fewer characters changes no answer
        reference = detect_language("\n".join(dialogue)[:SAMPLE_CHARS])
        assert language == reference, (cheap, dialogue[0][:60])
    assert result.cheap.sum() >= 55  # the English prose is decided without langdetect
    assert not result.cheap[60:90].any()  # no foreign dialogue is
    assert not result.cheap[91] and not result.cheap[92]  # nor a tiny one, nor accented prose
    assert {languages[60 + 6 * i] for i in range(5)} == {"de", "es", "fr", "ru", "zh-cn"}


def test_detection_is_deterministic():
    text = "Das ist ein kurzer Satz. C'est une phrase."  # ambiguous: langdetect is random unseeded
    assert len({detect_language(text) for _ in range(20)}) == 1


def test_rows_outside_the_kept_languages_are_rejected_as_lang_code():
    dialogues = mixed_dialogues()
    rows = pa.Table.from_pylist([{"id": str(i), "data": d, "sector": None, "source": "f", "line": i}
                                 for i, d in enumerate(dialogues)], schema=ROW_SCHEMA)
    result = LanguageFilter(LanguageOptions(("en", "fr"))).apply(rows)
    kept, rejects = result.rows, result.rejects
    assert set(kept.column("language").to_pylist()) <= {"en", "fr"}
    reasons = set(rejects.column("reason").to_pylist())
    assert {"lang_de", "lang_es", "lang_ru", "lang_zh-cn"} <= reasons
    assert kept.num_rows + rejects.num_rows == rows.num_rows


SIGNAL_TEXT = st.lists(st.sampled_from(["the", "The", "THE", "and", "should", "shoulder", "the_x", "x_the",
                                        "it's", "of2", "2of", "you", " ", "  ", ",", ".", "\n", "\t", "-",
                                        "é", "日", "\u00a0", "café", "bonjour", "a" * 9, "und", "Que", "y",
                                        "della", "une", "ein_", "\u2019", "über", "Ωthe"]),
                       max_size=30).map("".join)


@settings(max_examples=300, deadline=None)  # the first call compiles the kernel
@given(st.lists(st.one_of(SIGNAL_TEXT, st.text(alphabet=st.characters(max_codepoint=127), max_size=40)),
                max_size=8))
def test_the_compiled_signals_equal_the_regex_signals(texts):
    samples = pa.array(texts, pa.string())
    words, english, foreign, chars, beyond = text_signals(samples, exact=np.zeros(len(texts), bool))
    plain = beyond == 0
    assert plain.tolist() == [text.isascii() for text in texts]
    if not texts:
        return
    expected = _regex_signals(pl.Series(texts, dtype=pl.String))
    for index in np.flatnonzero(plain):
        assert (words[index], english[index], foreign[index], chars[index]) == tuple(
            signal[index] for signal in expected), texts[index]
    # Beyond ASCII the compiled pass gives bounds, which the fast paths rely on: English words
    # at most, spaces exactly, bytes and code points beyond ASCII at least what the regexes count.
    exact = text_signals(samples)
    for index in np.flatnonzero(~plain):
        assert words[index] == exact[0][index] and english[index] <= exact[1][index], texts[index]
        assert chars[index] - 3 * beyond[index] <= exact[3][index] <= chars[index], texts[index]
        assert beyond[index] >= exact[4][index], texts[index]


# Long turns near the thresholds: runs of one kind of word each (English words first, then none,
# say), so that the share of English function words and of letters beyond ASCII fall on both
# sides of the lines the kernel stops reading at, at any point of the turn.
TURN_RUN = st.tuples(st.sampled_from(["the", "and", "le", "der", "bonjour", "dia", "é", "日本", "code;",
                                      "x", " ", "\n", ",", "über"]),
                     st.integers(1, 400)).map(lambda run: " ".join([run[0]] * run[1]))
TURN_TEXT = st.lists(TURN_RUN, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(TURN_TEXT, SIGNAL_TEXT), max_size=6))
@example(["the " * 10 + "x " * 400, "the " * 30 + "日本 " * 300, "x " * 400 + "the " * 13,
          "der " * 200 + "und " * 30 + "é" * 300])
def test_the_turn_pass_that_stops_early_decides_as_the_whole_signals_do(texts):
    """`_may_be_foreign` reads a turn only until its English words rule it out: its verdict is
    the one the bounds of the whole compiled pass give."""
    turns = pa.array(texts, pa.string())
    words, english, _, chars, beyond = text_signals(turns, exact=np.zeros(len(texts), bool))
    expected = (chars >= MIN_TURN_CHARS) & (
        ((words >= MIN_WORDS) & (english <= MAX_TURN_ENGLISH_SHARE * words))
        | (beyond >= MIN_TURN_OTHER_SCRIPT * (chars - 3 * beyond)))
    offsets = np.concatenate([[0], np.cumsum([len(text.encode()) for text in texts])]).astype(np.int64)
    data = np.frombuffer("".join(texts).encode(), np.uint8)
    assert _may_be_foreign(data, offsets, _WORD_CODES, _WORD_KINDS).tolist() == expected.tolist()


ENGLISH_Q = ("Here is a short story I wrote for my class. The old keeper of the lighthouse lived alone on a "
             "small island far from the coast. Every night he climbed the long stairs to light the lamp, "
             "and the ships that passed would greet him with their horns from far away. He kept a small "
             "garden of beans and onions, and he mended his own nets when the winter storms tore them. "
             "One spring morning a letter came from his daughter, who lived in the city and worked at a "
             "bakery near the harbour. She asked him to come and live with her, now that he was old. He "
             "read the letter many times, sitting on the rocks by the water. Could you translate the "
             "story for my students?")
SPANISH_TURN = ("Claro. El viejo guardián del faro vivía solo en una isla pequeña. Cada noche subía "
                "las escaleras para encender la luz, y los barcos que pasaban lo saludaban desde lejos. "
                "Un día llegó una carta de su hija, que vivía en la ciudad.")
ARABIC_TURN = ("كان حارس المنارة العجوز يعيش وحده في جزيرة صغيرة. كل ليلة كان يصعد الدرج ليشعل "
               "الضوء، وكانت السفن التي تمر تحييه من بعيد. وفي يوم من الأيام وصلته رسالة من ابنته.")
ENGLISH_A = ("The old keeper lived alone on a small island. Every night he climbed the stairs to light "
             "the lamp, and the ships that passed would greet him from far away.")


def turn_rows(*dialogues):
    return pa.Table.from_pylist([{"id": str(i), "data": d, "sector": None, "source": "f", "line": i + 1}
                                 for i, d in enumerate(dialogues)], schema=ROW_SCHEMA)


def test_a_whole_turn_in_another_language_is_flagged_naming_the_turn():
    dialogues = [[ENGLISH_Q, SPANISH_TURN, "Thanks, and in English?", ENGLISH_A],
                 [ENGLISH_Q, ARABIC_TURN, "Thanks, and in English?", ENGLISH_A],
                 [ENGLISH_Q, ENGLISH_A, "Who wrote it?", "A sailor called José Núñez, in 1910."],
                 CODE_HEAVY]
    result = LanguageFilter().apply(turn_rows(*dialogues))
    assert result.rows.num_rows == 4 and result.rejects.num_rows == 0
    assert result.rows.column("flags").to_pylist() == [["turn_language"], ["turn_language"], [], []]
    assert result.flagged == {"turn_language": 2}
    rejected = LanguageFilter(LanguageOptions(turn_languages="reject")).apply(turn_rows(*dialogues))
    assert rejected.rows.column("id").to_pylist() == ["2", "3"]
    assert rejected.rejects.column("reason").to_pylist() == ["turn_language", "turn_language"]
    assert rejected.rejects.column("detail").to_pylist() == ["turn 1 is es; kept: en",
                                                             "turn 1 is ar; kept: en"]
    off = LanguageFilter(LanguageOptions(turn_languages="off")).apply(turn_rows(*dialogues))
    assert "flags" not in off.rows.column_names and off.rejects.num_rows == 0


def test_a_turn_in_a_language_kept_is_not_flagged():
    result = LanguageFilter(LanguageOptions(languages=("en", "es"))).apply(
        turn_rows([ENGLISH_Q, SPANISH_TURN, "Thanks, and in English?", ENGLISH_A]))
    assert "flags" not in result.rows.column_names and result.rows.num_rows == 1
