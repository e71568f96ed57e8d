"""The ASCII byte path of normalisation must give what the Unicode regexes give, on any text."""

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ultrachat_dataset.stages.normalize import (
    normalize_expr,
    normalized_hashes,
    normalized_words,
    whitespace_tokens,
)

ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=60)
SPECIAL = ("aZ9 \t\n\r\x0b\x0c\x1f\x00.,'-_!é É\u00a0\u2019\u2028ß日ж"  # spaces, punctuation, non-ASCII
           "\x85\u1680\u2000\u200a\u200b\u202f\u205f\u3000\u180e\ufeff😀")  # white space or nearly
any_text = st.text(alphabet=st.sampled_from(list(SPECIAL)), max_size=40)
texts = st.lists(st.one_of(ascii_text, any_text), max_size=12)


def regex_normalized(values: list[str], keep_spaces: bool) -> list[str]:
    frame = pl.DataFrame({"text": values}, schema={"text": pl.String})
    return frame.select(normalize_expr(pl.col("text"), keep_spaces))["text"].to_list()


@settings(deadline=None)  # the first call compiles the byte kernels
@given(texts)
def test_hashes_equal_the_regex_rule(values):
    expected = [xxhash.xxh3_64_intdigest(text.encode(), 7) for text in regex_normalized(values, False)]
    assert normalized_hashes(pa.array(values, pa.string()), seed=7).tolist() == expected


@settings(deadline=None)  # the first call compiles the byte kernels
@given(texts)
def test_words_equal_the_regex_rule(values):
    expected_docs, expected_words = [], []
    for doc, text in enumerate(regex_normalized(values, keep_spaces=True)):
        for word in text.split(" "):
            if word:
                expected_docs.append(doc)
                expected_words.append(word)
    docs, hashes = normalized_words(pa.array(values, pa.string()), seed=11)
    assert docs.tolist() == expected_docs
    assert hashes.tolist() == [xxhash.xxh3_64_intdigest(word.encode(), 11) for word in expected_words]


def test_sliced_arrays_and_case_punctuation_variants():
    array = pa.array(["skip me", "Hello, World!", "hello world", "HELLO\tWORLD...", "other"])[1:4]
    hashes = normalized_hashes(array, seed=7)
    assert hashes[0] == hashes[1] == hashes[2]
    docs, words = normalized_words(array, seed=11)
    assert docs.tolist() == [0, 0, 1, 1, 2, 2]
    assert words[0] == words[2] == words[4] != words[1]


@settings(deadline=None)  # the first call compiles the kernel
@given(st.lists(st.one_of(st.none(), ascii_text, any_text), max_size=12), st.data())
def test_whitespace_tokens_equal_the_regex_count(values, data):
    """All texts, or some chosen (the rest unread): as the regex counts them."""
    expected = pl.Series(values, dtype=pl.String).str.count_matches(r"\S+").fill_null(0).to_list()
    assert whitespace_tokens(pa.array(values, pa.string())).tolist() == expected
    chosen = sorted(data.draw(st.sets(st.integers(0, max(len(values) - 1, 0)))) if values else [])
    assert whitespace_tokens(pa.array(values, pa.string()), np.array(chosen, np.int64)).tolist() == [
        expected[index] for index in chosen]


# Hard for the folding table: typography, accents, compatibility forms NFKC changes, combining
# marks (alone and after a letter they compose with), capital sigma at a word's end, Hangul jamo,
# characters whose lower case is two (İ), white space beyond ASCII, scripts past the table.
HARD = list("aA9 \t\n.,’“”–—…™½ﬁ²é É\u00e9\u0065\u0301\u0301\u00a0\u2009\u2028\u0085ΣσςΟΔΟΣİıßẞДж日"
            "ｱＡ\u1100\u1161\u11a8\u0300\u0345\u00b5\u212b\u00c5\u03a9\u2126😀ǅﬃϹﾞ¨΅ᾈ①Ⅸ⑳ևŉ㎏")
hard_text = st.text(alphabet=st.one_of(st.sampled_from(HARD), st.characters(max_codepoint=0x3100)),
                    max_size=30)


@settings(max_examples=500, deadline=None)
@given(st.lists(hard_text, max_size=10), st.booleans())
@example(["ΟΔΟϹ", "aϹ b", "x™y ½", "\u00a8e", "ǅ\u0301"], False).via("NFKC's expansions, in context")
def test_the_compiled_fold_equals_the_regex_rule_on_hard_text(values, keep_spaces):
    from ultrachat_dataset.stages.normalize import regex_normalized as folded
    values = [value.encode("utf-8", "replace").decode("utf-8") for value in values]  # Arrow holds UTF-8
    expected = regex_normalized(values, keep_spaces)
    assert folded(pa.array(values, pa.string()), keep_spaces).to_pylist() == expected


def test_no_character_beyond_the_white_space_table_is_white_space_to_the_regex():
    from ultrachat_dataset.stages.normalize import REGEX_SPACE
    beyond = pl.Series([chr(point) for point in range(len(REGEX_SPACE), 0x110000)
                        if not 0xD800 <= point < 0xE000])
    assert not beyond.str.contains(r"\s").any()
    assert REGEX_SPACE.sum() == 25  # Unicode's White_Space


# Tables a compiled kernel may read as globals: built from literal bytes, so the same in every
# process. numba freezes a global array's value into the kernel it compiles, and `cache=True`
# keeps that code until the kernel's own file changes: a table read off a library at import
# (the folding table, read off polars' rule) must be passed in as an argument, or a cached
# kernel would go on with the table of the install that compiled it.
FIXED_TABLES = {"KEEP_BYTE", "LOWER_BYTE", "NOT_BREAK_BYTE", "_LOWER_WORD_BYTE"}


def test_compiled_kernels_read_no_table_made_at_import_as_a_global():
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import ultrachat_dataset

    kernels = 0
    for found in pkgutil.walk_packages(ultrachat_dataset.__path__, "ultrachat_dataset."):
        try:
            module = importlib.import_module(found.name)
        except ModuleNotFoundError:  # an optional library not installed (`openai`): no kernels there
            continue
        for name, kernel in vars(module).items():
            if isinstance(kernel, CPUDispatcher) and kernel.__module__ == module.__name__:
                kernels += 1
                names = kernel.py_func.__globals__
                tables = {read for read in kernel.py_func.__code__.co_names
                          if isinstance(names.get(read), np.ndarray)}
                assert tables <= FIXED_TABLES, f"{found.name}.{name} reads {tables - FIXED_TABLES}"
    assert kernels >= 20  # the walk found the kernels
