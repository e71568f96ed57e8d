"""The statistics of the paper's Table 4, per sector and overall, over `messages` arrays
(`insight.load` reads them from a folder or a file; `insight.tables` shows them).

Counts and lengths are
exact over every dialogue, in vectors; lexical diversity (MTLD, McCarthy & Jarvis 2010, averaged
over utterances) and topic diversity (mean pairwise cosine distance of dialogue embeddings) use a
seeded sample. Tokens are whitespace tokens unless a tokenizer is given (the paper's tokenizer is
not named; LLaMA's is likely, which makes its lengths ~1.3x ours). Embeddings are TF-IDF over
hashed word unigrams and bigrams (offline, no model to download); the paper used a neural
embedding, so topic diversity is comparable only in trend. Coherence was rated by ChatGPT and
cannot be computed offline.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..formats import MESSAGES_TYPE as MESSAGES
from ..hashing import mix64, stable_hash
from ..stages.normalize import whitespace_tokens
from ..turns import TurnLayout, one_array

PAPER = {"dialogues": 1_468_352, "avg_exchanges": 3.8, "avg_dialogue_tokens": 1467.4,
         "avg_utterance_tokens": 309.3, "mtld": 74.3, "topic_diversity": 0.702}
MTLD_THRESHOLD = 0.72
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass
class SectorStats:
    name: str
    dialogues: int
    avg_exchanges: float
    avg_dialogue_tokens: float
    avg_utterance_tokens: float
    mtld: float
    topic_diversity: float


def mtld(tokens: list[str], threshold: float = MTLD_THRESHOLD) -> float:
    """Measure of Textual Lexical Diversity: the mean of a forward and a backward pass."""
    if not tokens:
        return 0.0
    return (_mtld_pass(tokens, threshold) + _mtld_pass(tokens[::-1], threshold)) / 2


def _mtld_pass(tokens: list[str], threshold: float) -> float:
    factors, types, count = 0.0, set(), 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) / count <= threshold:
            factors += 1
            types, count = set(), 0
    if count:  # the partial factor of the remainder
        factors += (1 - len(types) / count) / (1 - threshold)
    return len(tokens) / factors if factors else float(len(tokens))


def text_mtlds(texts: pa.Array, threshold: float = MTLD_THRESHOLD) -> np.ndarray:
    """`mtld(words(text))` of each text, in vectors: the words found by polars, each a dense
    number, and both passes of every text in one compiled loop (the same arithmetic in the same
    order: the same floats)."""
    found = pl.from_arrow(texts).alias("text").to_frame().select(
        pl.col("text").str.to_lowercase().str.extract_all(_WORD.pattern))["text"]
    lengths = found.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = found.explode().drop_nulls()
    ids = flat.rank("dense").to_numpy().astype(np.int64) if len(flat) else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return _mtlds(ids, offsets, int(ids.max(initial=0)) + 1, threshold)


@numba.njit(nogil=True, cache=True)
def _mtlds(ids, offsets, kinds, threshold):  # pragma: no cover (compiled; tested against `mtld`)
    """`mtld` of each text, its words given as numbers (`ids[offsets[t]:offsets[t + 1]]`): a
    word is a new type of the current factor when its stamp is not the factor's number."""
    out = np.zeros(len(offsets) - 1)
    stamp = np.full(kinds, -1, np.int64)
    factor = 0
    for text in range(len(offsets) - 1):
        start, end = offsets[text], offsets[text + 1]
        size = end - start
        if size == 0:
            continue
        total = 0.0
        for backward in range(2):
            factors, types, count = 0.0, 0, 0
            factor += 1
            for step in range(size):
                word = ids[end - 1 - step] if backward else ids[start + step]
                if stamp[word] != factor:
                    stamp[word] = factor
                    types += 1
                count += 1
                if types / count <= threshold:
                    factors += 1
                    types, count = 0, 0
                    factor += 1
            if count:  # the partial factor of the remainder
                factors += (1 - types / count) / (1 - threshold)
            total += size / factors if factors else float(size)
        out[text] = total / 2
    return out


def words(text: str) -> list[str]:
    """The tokens MTLD counts: lower-case words, punctuation dropped."""
    return _WORD.findall(text.lower())


STATS_SAMPLE = 500  # utterances (MTLD) and dialogues (topic diversity) the card's stats sample
TOKEN_SAMPLE_FACTOR = 10  # token lengths are averaged over 10x as many dialogues as MTLD reads


class _Smallest:
    """The `size` rows of smallest priority offered so far: a seeded sample of a stream whose
    length is not known in advance, the same however the stream is cut into batches."""

    def __init__(self, size: int):
        self.size = size
        self.tables: list[pa.Table] = []
        self.held = 0
        self.limit = np.iinfo(np.uint64).max  # rows above it can never enter the sample

    def takes(self, priority: np.ndarray) -> np.ndarray:
        """Which of these rows may still enter the sample."""
        return priority <= self.limit

    def offer(self, priority: np.ndarray, rows: pa.Table) -> None:
        """Rows that `takes` allows, with their priorities."""
        if not len(priority):
            return
        self.tables.append(rows.append_column("priority", pa.array(priority)))
        self.held += len(priority)
        if 4 * self.held >= 5 * self.size:  # a bounded overshoot (memory ~1.25x the sample), and
            self._shrink()  # the limit kept close to it: fewer rows are measured on the way in

    def _shrink(self) -> None:
        """Keep the `size` smallest: a threshold from the priorities alone, then the held rows
        filtered by it in one call (no gathering of nested rows in a new order), and joined
        into one table (a call a held table cost ~0.4 s of a 200k run, under the GIL)."""
        held = pa.concat_tables(self.tables)
        priorities = held.column("priority").to_numpy()
        if len(priorities) > self.size:
            self.limit = np.partition(priorities, self.size - 1)[self.size - 1]
            held = held.filter(pc.less_equal(held.column("priority"), self.limit))
        self.tables = [held.combine_chunks()]
        self.held = held.num_rows

    def result(self) -> pa.Table | None:
        """The sample in priority order (None if nothing was offered)."""
        if not self.tables:
            return None
        self._shrink()
        return _lowest(pa.concat_tables(self.tables), self.size)


def _lowest(table: pa.Table, count: int) -> pa.Table:
    order = np.argsort(table.column("priority").to_numpy(), kind="stable")[:count]
    return table.take(pa.array(order))


@dataclass
class _Accumulator:
    """Exact counts over every dialogue of a sector, and two bottom-k samples of its dialogues
    by the same priorities: the token and turn counts of the larger, the texts of the smaller
    (which the larger contains). Only numbers are kept for the larger: ~40 MB less a sector."""

    dialogues: int
    utterances: int
    lengths: _Smallest  # priority, tokens, spoken
    texts: _Smallest  # priority, messages


class StatsCollector:
    """Statistics per sector and for all rows, fed `messages` arrays in any order: the pipeline
    feeds it the rows it writes, so the card's statistics need no second read of the output.

    Counts are exact. Token lengths are averaged over `TOKEN_SAMPLE_FACTOR * sample` dialogues,
    MTLD and topic diversity use `sample`: a bottom-k sample, the dialogues whose hashed ordinal
    (their place in the stream, seeded) is smallest, which needs no total in advance. The
    sample of all rows is the bottom-k of the sectors' samples: a row among the k smallest of
    all is among the k smallest of its sector. Tokens are counted as rows enter the sample, so
    the end of a run only measures the texts.
    """

    def __init__(self, sectors: list[str], sample: int = 2000, seed: int = 0, tokenizer=None):
        self.sample, self.seed, self.tokenizer = sample, seed, tokenizer
        self.salt = mix64(np.array([seed], np.uint64))
        self.sectors = {name: _Accumulator(0, 0, _Smallest(sample * TOKEN_SAMPLE_FACTOR),
                                           _Smallest(sample))
                        for name in sectors}
        self.rows = 0
        self._results: list[SectorStats] | None = None
        self._early: dict[str, Future] = {}  # sector -> its statistics, measured once it was finished
        self._background: ThreadPoolExecutor | None = None

    def add(self, sector: str, messages: pa.Array | pa.ChunkedArray, rows: np.ndarray | None = None) -> None:
        """`messages` of a sector's dialogues, in stream order; `rows`: only these of them (row
        numbers, ascending). The pipeline passes a block's prepared rows and the ones it wrote,
        so only the rows that enter a sample are ever copied."""
        self._results = None  # measured again, with these rows
        self._early.pop(sector, None)
        part = self.sectors[sector]
        messages = one_array(messages)
        rows = np.arange(len(messages)) if rows is None else rows
        layout = TurnLayout.of(messages)
        spoken = _spoken_turns(layout.turns)
        spoken_per_row = np.bincount(layout.owner, spoken, len(messages))
        part.dialogues += len(rows)
        part.utterances += int(spoken_per_row[rows].sum())
        ordinals = np.arange(self.rows, self.rows + len(rows), dtype=np.uint64)
        self.rows += len(rows)
        priority = mix64(ordinals ^ self.salt)
        chosen = part.texts.takes(priority)
        if chosen.any():
            part.texts.offer(priority[chosen], pa.table({"messages": messages.take(pa.array(rows[chosen]))}))
        chosen = part.lengths.takes(priority)
        if chosen.any():
            picked = rows[chosen]
            part.lengths.offer(priority[chosen], pa.table({
                "tokens": self._tokens(layout, spoken, picked), "spoken": spoken_per_row[picked]}))

    def finish(self, sector: str) -> None:
        """No row of `sector` comes any more: its statistics are measured now, on a thread of
        their own while the run goes on (mostly polars and numpy: little of it holds the GIL),
        and not at the end, where the run waits for them (a row added later measures it again)."""
        if sector in self._early or sector not in self.sectors:
            return
        if self._background is None:
            self._background = ThreadPoolExecutor(1, thread_name_prefix="statistics-early")
        self._early[sector] = self._background.submit(self._summary, *self._input(sector))

    def results(self) -> list[SectorStats]:
        """The statistics of every row added (measured once: later calls give the same list)."""
        if self._results is None:
            self._results = self._measured()
        return self._results

    def _input(self, name: str) -> tuple:
        """What `_summary` measures of a sector: its counts and its two samples."""
        part = self.sectors[name]
        return name, part.dialogues, part.utterances, part.lengths.result(), part.texts.result()

    def _measured(self) -> list[SectorStats]:
        inputs = {name: self._input(name) for name in self.sectors}
        parts = self.sectors.values()
        inputs["all"] = ("all", sum(p.dialogues for p in parts), sum(p.utterances for p in parts),
                         _lowest_of([summary[3] for summary in inputs.values()],
                                    self.sample * TOKEN_SAMPLE_FACTOR),
                         _lowest_of([summary[4] for summary in inputs.values()], self.sample))
        # Two at a time: topic diversity is polars and numpy, MTLD compiled (little of either holds the GIL).
        with ThreadPoolExecutor(2, thread_name_prefix="statistics") as pool:
            measuring = [self._early.get(name) or pool.submit(self._summary, *summary)
                         for name, summary in inputs.items()]
            results = [future.result() for future in measuring]
        if self._background is not None:
            self._background.shutdown()
            self._background = None
        return results

    def _tokens(self, layout: TurnLayout, spoken: np.ndarray, picked: np.ndarray) -> np.ndarray:
        """The tokens of the spoken turns of each picked dialogue (its row number), counted in
        place: only those turns are read."""
        in_picked = np.zeros(len(layout.lengths), bool)
        in_picked[picked] = True
        counted = np.flatnonzero(in_picked[layout.owner] & spoken)
        tokens = _token_counts(pc.struct_field(layout.turns, "content"), counted, self.tokenizer)
        return np.bincount(layout.owner[counted], tokens, len(layout.lengths))[picked]

    def _summary(self, name: str, dialogues: int, utterances: int, lengths: pa.Table | None,
                 sample: pa.Table | None) -> SectorStats:
        tokens = float(pc.sum(lengths.column("tokens")).as_py() or 0) if lengths else 0.0
        measured_utterances = float(pc.sum(lengths.column("spoken")).as_py() or 0) if lengths else 0.0
        texts = one_array(sample.column("messages")) if sample else pa.array([], MESSAGES)
        layout = TurnLayout.of(texts)
        contents = pc.struct_field(layout.turns, "content").filter(pa.array(_spoken(texts)))
        chosen = np.random.default_rng(self.seed).choice(
            len(contents), size=min(self.sample, len(contents)), replace=False)
        mtlds = text_mtlds(contents.take(pa.array(chosen, pa.int64())))
        return SectorStats(
            name=name, dialogues=dialogues,
            avg_exchanges=float(utterances / 2 / max(dialogues, 1)),
            avg_dialogue_tokens=tokens / max(lengths.num_rows if lengths else 0, 1),
            avg_utterance_tokens=tokens / max(measured_utterances, 1),
            mtld=float(np.mean(mtlds)) if len(mtlds) else 0.0,
            topic_diversity=topic_diversity(texts))


def _lowest_of(samples, count: int) -> pa.Table | None:
    """The `count` rows of smallest priority among the sectors' samples (None if none)."""
    present = [sample for sample in samples if sample is not None]
    return _lowest(pa.concat_tables(present), count) if present else None


def compute(table: pa.Table, sample: int = 2000, seed: int = 0, tokenizer=None) -> list[SectorStats]:
    """Stats per sector (rows with no sector: 'unlabelled'), then for all rows together."""
    sectors = pc.fill_null(table.column("sector"), "unlabelled")
    parts = {name: table.filter(pc.equal(sectors, name)) for name in sorted(set(sectors.to_pylist()))}
    return summarise({name: [part.column("messages")] for name, part in parts.items()},
                      sample, seed, tokenizer)


def summarise(sources: dict, sample: int, seed: int, tokenizer,
               on_rows=lambda count: None) -> list[SectorStats]:
    """sources: sector -> iterable of `messages` arrays. Each sector, then `all`."""
    collector = StatsCollector(list(sources), sample, seed, tokenizer)
    for name, chunks in sources.items():
        for messages in chunks:
            collector.add(name, messages)
            on_rows(len(messages))
    return collector.results()


def _spoken(messages: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which turns are user or assistant turns (not system prompts), all rows flattened."""
    return _spoken_turns(pc.list_flatten(messages))


def _spoken_turns(turns: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.not_equal(pc.struct_field(turns, "role"), "system").to_numpy(zero_copy_only=False)


def _token_counts(contents: pa.Array, chosen: np.ndarray, tokenizer) -> np.ndarray:
    """Tokens of the chosen contents (their indices)."""
    if len(chosen) == 0:  # picked dialogues with no spoken turn: a tokenizer may refuse []
        return np.zeros(0, np.float64)
    if tokenizer is None:
        return whitespace_tokens(contents, chosen).astype(np.float64)
    encoded = tokenizer(contents.take(pa.array(chosen)).to_pylist(), add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded], np.float64)


def topic_diversity(messages: pa.Array | pa.ChunkedArray, dims: int = 1 << 18) -> float:
    """Mean pairwise cosine distance of TF-IDF vectors (hashed unigrams and bigrams), sparse.

    A dialogue's terms are the `words` of its turns joined by spaces, and each pair of
    neighbours (across turns too); in vectors: the words of each turn, in order, then pairs of
    neighbours within a dialogue."""
    messages = one_array(messages)
    layout = TurnLayout.of(messages)
    contents = pl.from_arrow(pc.struct_field(layout.turns, "content"))
    words = pl.LazyFrame({"doc": layout.owner, "word": contents}) \
        .with_columns(pl.col("word").str.to_lowercase().str.extract_all(_WORD.pattern)) \
        .explode("word").drop_nulls("word")
    bigrams = words.with_columns(pl.col("word") + " " + pl.col("word").shift(-1)) \
        .filter((pl.col("doc").shift(-1) == pl.col("doc")).fill_null(False))
    # A stable hash (not Python's salted one, nor polars' unversioned one): the same statistic
    # on every run and every install (`hashing.stable_hash`, in the same query).
    bucket = stable_hash(pl.col("word"), seed=3) % pl.lit(dims, pl.UInt64)
    grams = pl.concat([words, bigrams]).select(
        pl.col("doc").cast(pl.Int64) * dims + bucket.cast(pl.Int64)).collect().to_series()
    if len(grams) == 0:
        return 0.0
    pairs, tf = _counted(grams.sort().to_numpy())
    doc, term = pairs // dims, pairs % dims
    n = len(messages)  # every dialogue counts, one with no word too (far from all)
    idf = np.log((1 + n) / (1 + np.bincount(term, minlength=dims))) + 1
    value = tf * idf[term]
    unit = value / np.sqrt(np.bincount(doc, value**2, minlength=n))[doc]
    if n < 2:
        return 0.0
    # With unit vectors, the sum of all pairwise dot products is |sum of vectors|^2 minus each
    # vector with itself (1 each; a dialogue with no word has no vector, 0): the mean over pairs
    # needs no n x n matrix.
    total = np.bincount(term, unit, minlength=dims)
    # Not `total @ total`: BLAS splits a dot of 2^18 over threads that then spin idle for ~0.1 s
    # each, CPU taken from the writers finishing the run at the same moment.
    return float(1 - (np.square(total).sum() - (np.count_nonzero(np.diff(doc)) + 1)) / (n * (n - 1)))


def _counted(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_counts=True)` of values already sorted (polars sorts ~3x faster)."""
    first = np.empty(len(ordered), bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return ordered[starts], np.diff(np.append(starts, len(ordered)))
