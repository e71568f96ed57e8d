"""The writer's vectorised split and prompt id equal the rules they are documented by, on any
opening turn: no row moves between train and test because the code got faster."""

import hashlib

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrachat_dataset.dataset.write import is_test, prepared_table
from ultrachat_dataset.release.read import ROW_SCHEMA

# Every character str.split() splits at in ASCII, and some it splits at beyond ASCII.
SPACES = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000"
# No lone surrogates: the reader rejects them, so no opener holds one.
openers = st.lists(st.text(alphabet=st.sampled_from(list(SPACES + "aZ.é日ΣßİK"))
                           | st.characters(blacklist_categories=("Cs",)),
                           max_size=16), min_size=1, max_size=30)


def rows(texts):
    return pa.Table.from_pylist([{"id": str(i), "data": [text, "answer"], "sector": "world",
                                  "source": "f", "line": i + 1} for i, text in enumerate(texts)],
                                schema=ROW_SCHEMA)


ascii_openers = st.lists(st.text(alphabet=st.sampled_from(list(SPACES[:10] + "aZz.@[`{"))
                                 | st.characters(max_codepoint=127), max_size=16), min_size=1, max_size=30)


@settings(deadline=None)
@given(openers | ascii_openers)  # the ASCII ones take the compiled pass
def test_the_split_is_the_blake2b_of_the_python_normalised_opener(texts):
    fraction = 0.5  # half the hash range: a wrong normalisation moves a row with probability 1/2
    expected = [int.from_bytes(hashlib.blake2b(" ".join(text.lower().split()).encode(),
                                               digest_size=8).digest(), "big") < fraction * 2**64
                for text in texts]
    assert is_test(rows(texts), fraction).tolist() == expected


@settings(deadline=None)
@given(openers)
def test_the_prompt_id_is_the_sha256_hex_of_the_opener(texts):
    expected = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    assert prepared_table(rows(texts)).column("prompt_id").to_pylist() == expected
