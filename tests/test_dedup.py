"""Dedup keeps the first occurrence and names it; near-dup catches edits, not strangers."""

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.hashing import mix64
from ultrachat_dataset.release.read import ROW_SCHEMA
from ultrachat_dataset.release.synth import _Composer
from ultrachat_dataset.stages.decontaminate import Decontaminate, DecontaminateOptions, load_prompts
from ultrachat_dataset.stages.dedup import (
    Decision,
    Deduplicator,
    DedupOptions,
    KeyPart,
    _KeyIndex,
    compute_keys,
    opening_signatures,
)
from ultrachat_dataset.stages.normalize import normalize_expr
from ultrachat_dataset.turns import opening_text


def rows(dialogues):
    return pa.Table.from_pylist([{"id": str(i), "data": d, "sector": "world", "source": "f",
                                  "line": i + 1} for i, d in enumerate(dialogues)], schema=ROW_SCHEMA)


def decide(dialogues, batch=None, **options):
    deduplicator = Deduplicator(DedupOptions(**options))
    table = rows(dialogues)
    step = batch or table.num_rows
    # Blocks decided one after the other, each against the keys of the blocks before it.
    parts = [deduplicator.decide(compute_keys(table.slice(start, step), deduplicator.options))
             for start in range(0, table.num_rows, step)]
    return Decision([reason for part in parts for reason in part.reasons],
                    np.concatenate([part.duplicate_of for part in parts]))


def composer():
    return _Composer(np.random.default_rng(5), 1.0)


def edit(text, every):
    words = text.split(" ")
    return " ".join("zebra" if i % every == 0 else w for i, w in enumerate(words))


def test_exact_duplicates_after_normalisation_point_to_the_first():
    a = ["What is tea?", "Tea is a drink."]
    decision = decide([a, ["WHAT is tea", "  tea, is a drink!!"], ["What is tea?", "Tea is food."], a],
                      batch=2)
    assert decision.reasons == [None, "exact_duplicate", None, "exact_duplicate"]
    assert decision.duplicate_of.tolist() == [0, 0, 2, 0]


def test_turn_boundaries_matter():
    decision = decide([["a b", "c"], ["a", "b c"]], modes=("exact",))
    assert decision.reasons == [None, None]


def test_near_duplicates_found_and_strangers_left_alone():
    c = composer()
    originals = [c.dialogue("world") for _ in range(40)]
    edited = [[edit(turn, 100) for turn in d] for d in originals[:20]]  # 1 word in 100 changed
    rewritten = [[edit(turn, 3) for turn in d] for d in originals[20:25]]  # a third changed
    decision = decide(originals + edited + rewritten, batch=16)
    assert decision.reasons[:40] == [None] * 40
    # These edits leave a Jaccard similarity of ~0.82 on word 5-grams, where 14 bands of 8 rows
    # find a pair with probability 1 - (1 - 0.82**8)**14 = 0.96: at least 18 of 20, each pointing
    # at its original, and nothing else.
    found = [index for index in range(40, 60) if decision.reasons[index] == "near_duplicate"]
    assert len(found) >= 18 and set(decision.reasons[40:60]) <= {"near_duplicate", None}
    assert [int(decision.duplicate_of[index]) for index in found] == [index - 40 for index in found]
    assert decision.reasons[60:] == [None] * 5


def test_near_dedup_reads_only_the_opening_characters():
    c = composer()
    base = c.dialogue("world")
    other_ending = base[:2] + [c.paragraph(5), c.paragraph(20)]
    assert decide([base, other_ending], near_chars=2000).reasons == [None, "near_duplicate"]
    whole = 10**9  # compare whole dialogues: the shared first exchange is a small part of each
    assert decide([base, other_ending], near_chars=whole).reasons == [None, None]


def test_short_dialogues_without_shingles_never_match_each_other():
    decision = decide([["Hi", "Yo"], ["Hey", "Sup"], ["Ok", "Fine"]], modes=("near",))
    assert decision.reasons == [None, None, None]


def test_opener_mode_drops_repeated_first_turns():
    decision = decide([["Write a poem.", "Roses."], ["write a poem", "Violets."]],
                      modes=("opener",))
    assert decision.reasons == [None, "duplicate_opener"]


def test_no_modes_decides_nothing():
    assert decide([["a", "b"], ["a", "b"]], modes=()).reasons == [None, None]


def test_unknown_mode():
    with pytest.raises(ConfigError, match="unknown dedup mode minhash"):
        DedupOptions(modes=("minhash",))


def test_benchmark_prompts_are_found_in_user_turns_only(tmp_path):
    prompts = tmp_path / "question.jsonl"
    prompts.write_text('{"question_id": 81, "turns": ["Compose an engaging travel blog post '
                       'about a recent trip to Hawaii, highlighting cultural experiences."]}\n'
                       '{"prompt": "How can I improve my time management skills?"}\n')
    result = Decontaminate(DecontaminateOptions(str(prompts))).apply(rows([
        ["Please compose an engaging travel blog post about a recent trip to Hawaii today!", "ok"],
        ["how can i improve my TIME management skills", "Plan."],
        ["What is Hawaii like?", "Compose an engaging travel blog post about a recent trip to "
                                 "Hawaii, highlighting it."],
        ["How can I improve my cooking skills?", "Practice."]]))
    kept, rejects = result.rows, result.rejects
    assert rejects.column("line").to_pylist() == [1, 2]
    assert set(rejects.column("reason").to_pylist()) == {"benchmark_overlap"}
    assert kept.column("line").to_pylist() == [3, 4]


def test_prompt_files_in_text_and_json(tmp_path):
    (tmp_path / "p.txt").write_text("one prompt\n\nanother prompt\n")
    (tmp_path / "p.json").write_text('[{"instruction": "do x"}, {"instruction": "do y"}]')
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{oops\n')
    assert load_prompts(tmp_path / "p.txt") == ["one prompt", "another prompt"]
    assert load_prompts(tmp_path / "p.json") == ["do x", "do y"]
    with pytest.raises(ConfigError, match="bad.jsonl line 2: not valid JSON"):
        load_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(ConfigError, match="cannot read the benchmark prompt file"):
        load_prompts(tmp_path / "missing.txt")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), max_size=5), max_size=6), st.integers(0, 40))
def test_opening_text_equals_joining_everything_then_cutting(dialogues, chars):
    data = pa.array(dialogues, pa.list_(pa.string()))
    expected = pc.utf8_slice_codeunits(pc.binary_join(data, "\n"), 0, chars)
    assert opening_text(data, chars).to_pylist() == expected.to_pylist()


def test_a_duplicate_in_full_width_letters_is_an_exact_duplicate():
    plain = ["What is the capital of France?", "Paris is the capital of France."]
    wide = ["Ｗｈａｔ ｉｓ ｔｈｅ ｃａｐｉｔａｌ ｏｆ Ｆｒａｎｃｅ？", "Paris is the capital of France."]
    decision = decide([plain, wide, ["Another question", "Another answer"]])
    assert decision.reasons == [None, "exact_duplicate", None]


def test_full_width_openers_are_duplicate_openers():
    decision = decide([["Ｔｅｌｌ ｍｅ ａ ｓｔｏｒｙ", "Once upon a time."], ["Tell me a story", "A tale."]],
                      modes=("exact", "opener"))
    assert decision.reasons == [None, "duplicate_opener"]


def test_the_decision_does_not_depend_on_where_blocks_end():
    # Exact repeats, near duplicates of near duplicates (a chain that must end at its first
    # row), repeated openers and strangers, decided in blocks of every size: the same answer.
    c = composer()
    originals = [c.dialogue("world") for _ in range(12)]
    once = [[edit(turn, 100) for turn in d] for d in originals[:6]]
    twice = [[edit(turn, 101) for turn in d] for d in once]
    same_opener = [[d[0], c.paragraph(30)] for d in originals[6:9]]
    corpus = [*originals, *once, originals[2], *twice, *same_opener, once[1], [" ".join(originals[0])]]
    options = {"modes": ("exact", "near", "opener")}
    whole = decide(corpus, **options)
    assert {"exact_duplicate", "near_duplicate", "duplicate_opener"} <= set(whole.reasons)
    near = [index for index, reason in enumerate(whole.reasons) if reason == "near_duplicate"]
    # A chain ends at its first row (which exact dedup had kept), never at a near duplicate.
    assert {whole.reasons[whole.duplicate_of[index]] for index in near} <= {None, "duplicate_opener"}
    assert whole.duplicate_of[len(originals) + 6 + 1 + 1] == 1  # twice[1] -> once[1] -> originals[1]
    for batch in (1, 2, 5, 7):
        decision = decide(corpus, batch=batch, **options)
        assert decision.reasons == whole.reasons
        assert decision.duplicate_of.tolist() == whole.duplicate_of.tolist()


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_a_near_chain_points_at_its_first_row_across_blocks(batch):
    # Band keys by hand: row 1 shares a band with row 0, row 2 one with row 1 only, row 3 one
    # with row 2 only: a chain 3 -> 2 -> 1 -> 0, whose rows all name row 0.
    options = DedupOptions(modes=("near",))
    bands = np.arange(4 * options.bands, dtype=np.uint64).reshape(4, options.bands) + 100
    bands[1, 0], bands[2, 5], bands[3, 9] = bands[0, 0], bands[1, 5], bands[2, 9]
    deduplicator = Deduplicator(options)
    parts = [deduplicator.decide(KeyPart(len(chunk), bands=chunk, too_short=np.zeros(len(chunk), bool)))
             for chunk in np.split(bands, range(batch, 4, batch))]
    assert [reason for part in parts for reason in part.reasons] == [None] + ["near_duplicate"] * 3
    assert np.concatenate([part.duplicate_of for part in parts]).tolist() == [0, 0, 0, 0]


def fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    return value


def mixed(value: int) -> int:
    return int(mix64(np.array([value], np.uint64))[0])


def reference_signature(turns: list[str], options: DedupOptions) -> tuple[list[int], int]:
    """The rule as written in the docstring, one dialogue in plain Python: the opening, normalised
    by the Unicode regexes, its words, shingles and bins."""
    opening = "\n".join(turns)[:options.near_chars]
    normal = pl.DataFrame({"t": [opening]}).select(normalize_expr(pl.col("t"), True))["t"][0]
    words = [mixed(fnv1a64(word.encode())) for word in normal.split(" ") if word]
    width, bins = options.shingle_words, options.bands * options.rows_per_band
    multipliers = [int(m) for m in mix64(np.arange(width))]
    signature = [2**64 - 1] * bins
    count = 0
    for start in range(len(words) - width + 1):
        shingle = mixed(sum(w * m for w, m in zip(words[start:start + width], multipliers)) % 2**64)
        slot = ((shingle >> 32) * bins) >> 32
        signature[slot] = min(signature[slot], shingle & 0xFFFFFFFF)
        count += 1
    return signature, count


SIGNATURE_TEXT = st.text(alphabet=st.sampled_from(list("abZ9 ,.'\t\n-éÉßＡ日\u00a0\u2028’–ΩẞⅨ…½™")),
                         max_size=30)  # (… is dropped by the table, ½ and ™ expand: the rule's path)


@settings(max_examples=300, deadline=None)  # the first call compiles the kernel
@given(st.lists(st.lists(SIGNATURE_TEXT, max_size=4), max_size=5), st.integers(0, 60),
       st.integers(1, 3), st.integers(1, 3))
def test_minhash_signatures_equal_the_rule_on_any_text(dialogues, near_chars, width, bins):
    # ASCII openings take the compiled byte path, the others the Unicode regexes first: both
    # must give the rule's words, shingles and bins, cut at the same character.
    options = DedupOptions(near_chars=near_chars, shingle_words=width, bands=bins, rows_per_band=1)
    signature, shingles = opening_signatures(pa.array(dialogues, pa.list_(pa.string())), options)
    expected = [reference_signature(turns, options) for turns in dialogues]
    assert signature.tolist() == [row for row, _ in expected]
    assert shingles.tolist() == [count for _, count in expected]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=40), max_size=30), st.data())
def test_the_key_index_finds_every_key_at_its_first_row_whatever_the_merges(batches, data):
    """Batches of keys (repeats within and across batches), from a table small enough to grow
    and to collide: each batch's answer names the row that first had each key; a last batch of
    every key seen, and some new ones, finds them all after the last growth."""
    index, first, row = _KeyIndex(capacity=2), {}, 0
    extra = data.draw(st.lists(st.integers(0, 2**64 - 1), max_size=10))
    seen = list(dict.fromkeys(key for batch in batches for key in batch))
    for batch in [*batches, [*seen, *extra]]:
        keys = np.array(batch, np.uint64)
        rows = np.arange(row, row + len(keys))
        row += len(keys)
        answer = index.first_rows(keys, rows)
        for key, at in zip(batch, rows.tolist()):
            first.setdefault(key, at)
        assert answer.tolist() == [first[key] for key in batch]
        assert index.size == len(first)
