"""langdetect's trials, compiled: the same random stream, the same sums, the same answers and
probabilities as langdetect's own Python, on text drawn to be hard."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langdetect.lang_detect_exception import LangDetectException

from ultrachat_dataset.stages import langdetect_trials
from ultrachat_dataset.stages.langdetect_trials import _detector_factory

# Our own phrases and words, in the languages and scripts langdetect is asked about.
WORDS = ("the", "river", "ran", "quietly", "le", "chat", "est", "sur", "une", "table", "der", "Hund",
         "und", "ist", "el", "perro", "y", "para", "una", "casa", "il", "gatto", "della", "sono",
         "uma", "não", "het", "een", "niet", "собака", "и", "кошка", "猫", "犬", "ねこ", "いぬ",
         "고양이", "개", "σκύλος", "γάτα", "כלב", "कुत्ता", "แมว", "كلب", "قطة", "Việt", "Nam",
         "1.", "2)", "100g", "x = 3;", "https://example.org/a?b=c", "me@example.org", "ÉCOLE",
         "NASA", "-", "\n", "—", "’", "…")
texts = st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=80).map(" ".join)


def both(text):
    """(answer, langprob) by langdetect's own Python and by the compiled trials."""
    answers = []
    for detect in (lambda detector: detector.detect(), langdetect_trials.detect):
        detector = _detector_factory().create()
        detector.append(text)
        try:
            answers.append((detect(detector), detector.langprob))
        except LangDetectException as error:
            answers.append((str(error), None))
    return answers


@settings(max_examples=300, deadline=None)
@given(texts)
def test_the_compiled_trials_answer_as_langdetect_to_the_last_bit(text):
    own, compiled = both(text)
    assert compiled == own


CAPITALS = ("NASA", "ÉCOLE", "McDonald", "iPhone", "ABC-Def", "ǅungla", "ΣΟΦΙΑ", "ПРИВЕТ", "A B C")
hard_text = st.lists(st.sampled_from(WORDS + CAPITALS) | st.characters(max_codepoint=0xFFFF)
                     | st.sampled_from(["\u0219", "\u021b", "\u06cc", "\u1ea0", "\u3042", "\u30a2",
                                        "\u3105", "\u31a0", "\u4e00", "\uac00", "\u00d7", "\u2019",
                                        "\U0001d400", "\U0001f600"]), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(hard_text)
def test_the_compiled_ngram_pass_keeps_the_ngrams_langdetect_keeps(text):
    detector = _detector_factory().create()
    detector.append(text)
    detector.cleaning_text()
    model = langdetect_trials.model_of(detector)
    assert [model.words[position] for position in model.ngrams(detector)] == detector._extract_ngrams()


def test_on_real_like_openings_every_answer_and_probability_is_the_same():
    rng = np.random.default_rng(7)
    for length in (20, 80, 300):
        for _ in range(40):
            text = " ".join(rng.choice(WORDS[:34], length // 4))[:length]
            own, compiled = both(text)
            assert compiled == own


def test_the_stream_is_pythons_mersenne_twister_across_regenerations():
    for seed in (0, 1, 12345):
        words, position = langdetect_trials._seeded_state(seed)
        state, at = words.copy(), np.array([position], np.int64)
        python = random.Random(seed)
        assert [int(langdetect_trials._next_word(state, at)) for _ in range(1500)] == \
               [python.getrandbits(32) for _ in range(1500)]
        for n in (1, 2, 3, 7, 300, 1023, 1024, 5000):  # choice's rejection sampling
            drawn = [int(langdetect_trials._below(n, n.bit_length(), state, at)) for _ in range(50)]
            assert drawn == [python.choice(range(n)) for _ in range(50)]
        uniform = [langdetect_trials._uniform(state, at) for _ in range(50)]
        assert uniform == [python.random() for _ in range(50)]


def test_the_sum_is_this_interpreters_sum():
    assert langdetect_trials.sum_matches()
    rng = np.random.default_rng(1)
    for _ in range(500):
        values = rng.random(55) ** rng.integers(1, 60)
        assert langdetect_trials._sum(values, langdetect_trials.NEUMAIER_SUM) == sum(values.tolist())


@pytest.mark.parametrize("setting", ["prior_map", "seed"])
def test_a_detector_set_otherwise_is_left_to_langdetect(setting, monkeypatch):
    detector = _detector_factory().create()
    detector.append("le chat est sur une table et le chien est sous la table")
    if setting == "prior_map":
        detector.set_prior_map({"fr": 0.1, "en": 0.9})
    else:
        detector.seed = None
    monkeypatch.setattr(langdetect_trials, "_trials", None)  # would fail if called
    assert langdetect_trials.detect(detector) in {"fr", "en"}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS + CAPITALS) | st.characters()
                | st.sampled_from(["\u0300", "\u02ff", "\u1e00", "\u1eff", "\u1f00", "[", "`", "@", "{",
                                   "\ud800", "\U000e0100"]), max_size=60).map("".join))
def test_the_cleaned_text_is_the_one_langdetect_cleans(text):
    """Latin letters among more than twice as many later characters (Latin Extended Additional
    not counted) are dropped as langdetect drops them; a text with fewer is left alone."""
    detector = _detector_factory().create()
    detector.text = text
    detector.cleaning_text()
    assert langdetect_trials.cleaned_text(text) == detector.text
