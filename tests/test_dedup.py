"""Dedup keeps the first occurrence and names it; near-dup catches edits, not strangers."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.release.read import ROW_SCHEMA
from ultrachat_dataset.release.synth import _Composer
from ultrachat_dataset.stages.decontaminate import BenchmarkFilter, load_prompts
from ultrachat_dataset.stages.dedup import DedupKeys, DedupOptions
from ultrachat_dataset.turns import opening_text


def rows(dialogues):
    return pa.Table.from_pylist([{"id": str(i), "data": d, "sector": "world", "source": "f",
                                  "line": i + 1} for i, d in enumerate(dialogues)], schema=ROW_SCHEMA)


def decide(dialogues, batch=None, **options):
    keys = DedupKeys(DedupOptions(**options))
    table = rows(dialogues)
    step = batch or table.num_rows
    for start in range(0, table.num_rows, step):  # keys from several batches, decided once
        keys.add(table.slice(start, step))
    return keys.decide()


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
    found = BenchmarkFilter(load_prompts(prompts))
    kept, rejects = found.apply(rows([
        ["Please compose an engaging travel blog post about a recent trip to Hawaii today!", "ok"],
        ["how can i improve my TIME management skills", "Plan."],
        ["What is Hawaii like?", "Compose an engaging travel blog post about a recent trip to "
                                 "Hawaii, highlighting it."],
        ["How can I improve my cooking skills?", "Practice."]]))
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
