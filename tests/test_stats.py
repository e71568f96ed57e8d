"""Statistics: MTLD equals a reference implementation, counts match the generator exactly,
means land within tolerance of its parameters, and the plots are real images."""

import struct
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import needs
from ultrachat_dataset.insight.load import load_dialogues, stats_of
from ultrachat_dataset.insight.stats import compute, mtld, topic_diversity, words
from ultrachat_dataset.release.synth import EXCHANGES, synthesize

TEXTS = [
    "The cat sat on the mat and the dog sat on the log while the bird sang a song to the sun.",
    "It is important to remember that every community has its own history, and history shapes "
    "every community in ways that a single story can never fully explain to a reader.",
    " ".join(["alpha beta gamma delta"] * 30),
    "one two three four five six seven eight nine ten eleven twelve",
]


@pytest.mark.parametrize("text", TEXTS)
def test_mtld_equals_the_lexicalrichness_reference(text):
    tokens = words(text)
    richness = needs("lexicalrichness").LexicalRichness
    reference = richness(tokens, preprocessor=None, tokenizer=None).mtld(threshold=0.72)
    assert mtld(tokens) == pytest.approx(reference, rel=1e-9)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("stats")
    manifest = synthesize(out, dialogues=1500, seed=9, length_scale=0.5)
    return out, manifest


def test_counts_are_exact_and_means_match_the_generator(corpus):
    folder, manifest = corpus
    rows = {s.name: s for s in compute(load_dialogues(folder), sample=500)}
    for sector in ("world", "writing", "assistance"):
        expected = sum(f.get(f"sector_{sector}", 0) for f in manifest["files"].values())
        assert rows[sector].dialogues == expected
        choices, weights = EXCHANGES[sector]
        assert rows[sector].avg_exchanges == pytest.approx(np.dot(choices, weights), abs=0.15)
    assert rows["all"].dialogues == 1500
    assert rows["all"].avg_dialogue_tokens == pytest.approx(
        rows["all"].avg_exchanges * 2 * rows["all"].avg_utterance_tokens, rel=1e-6)
    assert 80 < rows["all"].avg_utterance_tokens < 160  # half of ~225 words, at length_scale 0.5
    assert 0 < rows["all"].topic_diversity < 1 and rows["all"].mtld > 10


def test_topic_diversity_is_zero_for_copies_and_higher_for_different_texts():
    same = pa.array([[{"role": "user", "content": "tea and biscuits"}]] * 5)
    mixed = pa.array([[{"role": "user", "content": t}] for t in TEXTS])
    assert topic_diversity(same) == pytest.approx(0, abs=1e-9)
    assert topic_diversity(mixed) > 0.5


def test_stats_of_a_prepared_folder_stream_the_same_numbers(corpus, tmp_path):
    from ultrachat_dataset.prepare.pipeline import PrepareOptions, prepare
    from ultrachat_dataset.release.sources import local_inputs
    folder, _ = corpus
    prepare(local_inputs("all", folder), tmp_path / "out", "all", PrepareOptions(), progress=False)
    streamed = {s.name: s for s in stats_of(tmp_path / "out", sample=300)}
    in_memory = {s.name: s for s in compute(load_dialogues(tmp_path / "out"), sample=300)}
    for name, row in streamed.items():
        assert row.dialogues == in_memory[name].dialogues
        assert row.avg_utterance_tokens == pytest.approx(in_memory[name].avg_utterance_tokens)


@pytest.fixture(scope="module")
def corpus_with_duplicates(tmp_path_factory):
    out = tmp_path_factory.mktemp("duplicates")
    return out, synthesize(out, dialogues=1500, seed=9, length_scale=0.5,
                           defect_rates={"duplicate": 0.1, "near_duplicate": 0.05})


@pytest.mark.parametrize("corpus_name", ["corpus", "corpus_with_duplicates"])
def test_the_card_gathers_in_the_pipeline_what_reading_the_folder_measures(corpus_name, request, tmp_path):
    """The card's statistics are gathered while the rows are written; the counts must equal a
    read of the written folder (the sampled means differ only by which rows are sampled). With
    duplicates, dedup drops rows of blocks whose other rows are written: only those count."""
    import re

    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs
    folder, _ = request.getfixturevalue(corpus_name)
    report = prepare(local_inputs("all", folder), tmp_path / "out", "all", progress=False)
    dropped = sum(report.totals().rejected.get(code, 0) for code in ("exact_duplicate", "near_duplicate"))
    assert (dropped > 0) == (corpus_name == "corpus_with_duplicates")
    card = (tmp_path / "out" / "README.md").read_text()
    table = {m.group(1): (int(m.group(2).replace(",", "")), float(m.group(3)), float(m.group(4)))
             for m in re.finditer(r"\| this dataset \| (\w+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|", card)}
    read = {s.name: s for s in stats_of(tmp_path / "out", sample=500)}
    assert set(table) == {"world", "writing", "assistance", "all"}
    for name, (dialogues, exchanges, dialogue_tokens) in table.items():
        assert dialogues == read[name].dialogues > 0
        assert exchanges == pytest.approx(read[name].avg_exchanges, abs=0.005)
        assert dialogue_tokens == pytest.approx(read[name].avg_dialogue_tokens, rel=0.1)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_cli_stats_prints_the_table_and_writes_plots(corpus, tmp_path):
    needs("matplotlib")
    folder, _ = corpus
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "stats", str(folder),
                             "--sample", "200", "--plot", str(tmp_path)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| paper (Table 4) | all | 1,468,352 |" in result.stdout
    assert "| world |" in result.stdout
    for name in ("exchanges.png", "utterance_lengths.png"):
        width, height = png_size(tmp_path / name)
        assert width > 300 and height > 200


def reference_topic_diversity(dialogues: list[list[str]], dims: int = 1 << 18) -> float:
    """The measure in plain Python: each dialogue's words (turns joined by spaces) and neighbour
    pairs, hashed to `dims` buckets; TF-IDF; the mean cosine distance over all pairs."""
    import math

    from ultrachat_dataset.hashing import stable_hashes
    vectors = []
    for turns in dialogues:
        tokens = words(" ".join(turns))
        grams = tokens + [a + " " + b for a, b in zip(tokens, tokens[1:])]
        counts = {}
        for bucket in (stable_hashes(grams, seed=3) % np.uint64(dims)).tolist() if grams else []:
            counts[bucket] = counts.get(bucket, 0) + 1
        vectors.append(counts)
    used = vectors
    n = len(used)
    if n < 2 or not any(used):  # no word anywhere: nothing to compare
        return 0.0
    frequency = {}
    for v in used[:n]:
        for term in v:
            frequency[term] = frequency.get(term, 0) + 1
    units = []
    for v in used[:n]:
        weights = {t: c * (math.log((1 + n) / (1 + frequency[t])) + 1) for t, c in v.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        units.append({t: w / norm for t, w in weights.items()})
    total = sum(sum(a.get(t, 0.0) * w for t, w in b.items()) for i, a in enumerate(units)
                for j, b in enumerate(units) if i != j)
    return 1 - total / (n * (n - 1))


TURN_TEXT = st.text(alphabet=st.sampled_from(list("ab c'.Z9\n\tİK-")), max_size=25)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(TURN_TEXT, min_size=1, max_size=4), min_size=2, max_size=6))
def test_topic_diversity_in_vectors_equals_the_measure_in_plain_python(dialogues):
    messages = pa.array([[{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                          for i, t in enumerate(turns)] for turns in dialogues])
    expected = reference_topic_diversity(dialogues)
    assert topic_diversity(messages) == pytest.approx(expected, abs=1e-9)


def test_dialogues_with_no_spoken_turn_never_send_an_empty_batch_to_the_tokenizer():
    """A sample of dialogues with only a system prompt (or nothing) has no turn to count: a
    tokenizer that refuses an empty batch is never called with one."""
    from ultrachat_dataset.formats import MESSAGES_TYPE
    from ultrachat_dataset.insight.stats import StatsCollector

    def tokenizer(texts, add_special_tokens=False):
        assert texts, "an empty batch"
        return {"input_ids": [text.split() for text in texts]}

    collector = StatsCollector(["world"], sample=10, tokenizer=tokenizer)
    collector.add("world", pa.array([[{"role": "system", "content": "be brief"}], []], MESSAGES_TYPE))
    world = collector.results()[0]
    assert (world.dialogues, world.avg_exchanges, world.avg_dialogue_tokens) == (2, 0.0, 0.0)


WORDY = st.lists(st.sampled_from(list("abcAB9 '’.\n") + ["the ", "cat ", "Cat's ", "don't ", "\u212a",
                                                         "\u0130", "é"]), max_size=80).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDY, max_size=12))
@example([" ".join(f"w{n}" for n in [*range(18), *range(7), 40, 41, 42])]).via("a factor ends at 0.72")
def test_the_compiled_mtld_of_many_texts_equals_mtld_of_each(texts):
    """The card's MTLD: each text's `mtld(words(text))`, exactly (the same floats)."""
    from ultrachat_dataset.insight.stats import text_mtlds
    assert text_mtlds(pa.array(texts, pa.string())).tolist() == [mtld(words(text)) for text in texts]


def test_a_sector_measured_once_finished_gives_what_the_end_would_and_a_late_row_counts(corpus):
    """`finish` measures a sector while the run goes on: the same numbers as measuring it at the
    end; a row of it that still comes is not lost (the sector is measured again)."""
    from ultrachat_dataset.insight.stats import StatsCollector

    table = load_dialogues(corpus[0])
    sectors = table.column("sector").to_pylist()
    by_sector = {name: table.filter(pa.array([s == name for s in sectors])).column("messages")
                 for name in ("world", "writing", "assistance")}

    def measured(finish_after: dict[str, int]) -> list:
        collector = StatsCollector(list(by_sector), sample=50)
        for name, messages in by_sector.items():
            cut = finish_after.get(name, len(messages))
            collector.add(name, messages.slice(0, cut))
            if name in finish_after:
                collector.finish(name)
            if cut < len(messages):
                collector.add(name, messages.slice(cut))
        return collector.results()

    at_the_end = measured({})
    assert measured({"world": len(by_sector["world"]), "writing": len(by_sector["writing"])}) == at_the_end
    assert measured({"world": 10}) == at_the_end  # finished too soon: the later rows still count
