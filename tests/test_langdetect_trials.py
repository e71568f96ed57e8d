"""langdetect's trials, compiled: the same random stream, the same sums, the same answers and
probabilities as langdetect's own Python, on text drawn to be hard."""

import functools
import logging
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langdetect import DetectorFactory, detector_factory
from langdetect.lang_detect_exception import LangDetectException

from ultrachat_dataset.stages import langdetect_trials
from ultrachat_dataset.stages.langdetect_trials import _detector_factory, _ngram_key

# Our own phrases and words, in the languages and scripts langdetect is asked about.
WORDS = ("the", "river", "ran", "quietly", "le", "chat", "est", "sur", "une", "table", "der", "Hund",
         "und", "ist", "el", "perro", "y", "para", "una", "casa", "il", "gatto", "della", "sono",
         "uma", "não", "het", "een", "niet", "собака", "и", "кошка", "猫", "犬", "ねこ", "いぬ",
         "고양이", "개", "σκύλος", "γάτα", "כלב", "कुत्ता", "แมว", "كلب", "قطة", "Việt", "Nam",
         "1.", "2)", "100g", "x = 3;", "https://example.org/a?b=c", "me@example.org", "ÉCOLE",
         "NASA", "-", "\n", "—", "’", "…")
texts = st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=80).map(" ".join)


@functools.cache
def langdetects_own() -> DetectorFactory:
    """langdetect's profiles as its own loader makes them (not our cached arrays)."""
    factory = DetectorFactory()
    factory.load_profile(detector_factory.PROFILES_DIRECTORY)
    return factory


def both(text):
    """(answer, langprob) by langdetect's own Python on its own profiles, and by the compiled
    trials on the cached ones."""
    answers = []
    for factory, detect in ((langdetects_own(), lambda detector: detector.detect()),
                            (_detector_factory(), langdetect_trials.detect)):
        detector = factory.create()
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
    own, ours = langdetects_own().create(), _detector_factory().create()
    for detector in (own, ours):
        detector.append(text)
        detector.cleaning_text()
    model = langdetect_trials.model_of(ours)
    assert [int(model.keys[position]) for position in model.ngrams(ours)] == \
        [_ngram_key(word) for word in own._extract_ngrams()]


def test_the_cached_profiles_are_langdetects_own_to_the_last_bit():
    own, ours = langdetects_own(), _detector_factory()
    assert ours.langlist == own.langlist
    assert len(ours.word_lang_prob_map) == len(own.word_lang_prob_map)
    assert set(ours.word_lang_prob_map) == set(own.word_lang_prob_map)
    assert all(ours.word_lang_prob_map[word] == probabilities
               for word, probabilities in own.word_lang_prob_map.items())
    assert "zzzz" not in ours.word_lang_prob_map and "\U0001f600" not in ours.word_lang_prob_map


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, and no factory made yet in this process."""
    monkeypatch.setenv("ULTRACHAT_CACHE", str(tmp_path))
    monkeypatch.setattr(langdetect_trials, "_factory", None)
    return tmp_path / "langdetect"


def test_the_profiles_are_built_once_then_read_from_the_cache(fresh_cache, monkeypatch):
    first = langdetect_trials._cached_model()
    assert [path.name for path in fresh_cache.iterdir()] == [langdetect_trials._cache_path().name]
    monkeypatch.setattr(DetectorFactory, "load_profile", None)  # would fail if called
    again = langdetect_trials._cached_model()
    assert np.array_equal(again.table, first.table) and np.array_equal(again.keys, first.keys)
    assert _detector_factory().create() is not None


def test_a_damaged_cache_file_is_built_again_and_said(fresh_cache, caplog):
    path = langdetect_trials._cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 cut short")
    with caplog.at_level(logging.WARNING):
        model = langdetect_trials._cached_model()
    assert "unreadable" in caplog.text and str(path) in caplog.text
    assert len(model.keys) == len(langdetects_own().word_lang_prob_map)
    assert np.array_equal(langdetect_trials._cached_model().keys, model.keys)  # rewritten whole


def test_a_cache_folder_that_cannot_be_written_still_gives_the_profiles(fresh_cache, caplog):
    fresh_cache.parent.mkdir(exist_ok=True)
    fresh_cache.write_text("a file where the folder would be")
    with caplog.at_level(logging.INFO):
        model = langdetect_trials._cached_model()
    assert "not cached" in caplog.text
    assert len(model.keys) == len(langdetects_own().word_lang_prob_map)


def test_a_cache_file_cut_short_by_a_full_disk_leaves_nothing_behind(fresh_cache, monkeypatch, caplog):
    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 the first bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with caplog.at_level(logging.INFO):
        model = langdetect_trials._cached_model()
    assert "not cached" in caplog.text and "No space left" in caplog.text
    assert len(model.keys) == len(langdetects_own().word_lang_prob_map)
    assert list(fresh_cache.iterdir()) == []  # neither the cache file nor the partial one


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
