"""Composes the stages block by block: read -> validate -> langid -> clean -> decontaminate -> dedup.

Each stage returns the rows it keeps and the rows it rejects with a reason; the `Report` counts
both per file and `Report.check()` proves that every line read is accounted for. One pass: the
per-row stages run on workers, blocks come back in release order, dedup decides each block
against every key seen before it (so the first occurrence survives, whatever the block
boundaries) and the kept rows go straight to the output shards. Memory stays flat in corpus
size but for the dedup keys and row names (~300-550 bytes a dialogue).
"""

from __future__ import annotations

import bisect
import os
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..dataset.folder import OutputFolderError, building
from ..dataset.write import TEST_FRACTION, DatasetWriter, Part, is_test, prepared_table, route
from ..errors import ConfigError
from ..insight.stats import STATS_SAMPLE, StatsCollector
from ..layout import SECTORS, UNLABELLED, check_config
from ..offload import helper_processes
from ..progress import progress_bar
from ..rejects import RejectWriter, Report, rejects_from_rows
from ..release.read import LineBlock
from ..release.sources import InputFile
from ..stages.clean import CleanOptions, clean
from ..stages.decontaminate import BenchmarkFilter, load_prompts
from ..stages.dedup import Deduplicator, DedupOptions, KeyPart, compute_keys
from ..stages.langid import filter_languages
from ..stages.validate import Block, ReadAccounts, input_bytes, parse_and_validate, raw_blocks
from ..turns import one_array, set_data


@dataclass
class PrepareOptions:
    odd_turns: str = "trim"
    clean: CleanOptions = field(default_factory=CleanOptions)
    languages: tuple[str, ...] | None = ("en",)  # None: no language filter (and no detection)
    dedup: DedupOptions = field(default_factory=DedupOptions)
    decontaminate: str | None = None  # a file of benchmark prompts
    test_fraction: float = TEST_FRACTION

    def __post_init__(self):
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"--test-fraction (test_fraction) {self.test_fraction}: give a share "
                              "from 0 up to (not including) 1, e.g. 0.01")

    def as_dict(self) -> dict:
        return asdict(self)


def prepare(inputs: list[InputFile], out_dir: str | Path, config: str = "all",
            options: PrepareOptions | None = None, progress: bool = True,
            workers: int | None = None, overwrite: bool = False, written_by: str = "prepare") -> Report:
    """Run every stage over `inputs`; write `OUT/data/<sector>/<split>-*.parquet` (the sector
    folder `unlabelled` for the Hub copy), `OUT/rejects/<config>.parquet`, `OUT/report.json` and
    the card `OUT/README.md`. Returns the report.

    OUT is built aside and swapped in whole when complete (`folder.building`): an interrupted
    run leaves the previous OUT untouched. A non-empty OUT that `prepare` did not write, or that
    holds another config, is refused unless `overwrite`; so is one that another command than
    `written_by` wrote, when that is "demo" (the demo replaces only its own output).

    Blocks go through the per-row stages on `workers` threads (default: one a core, up to 4)
    and are taken back in order, so the output is the same whatever the number of workers. The
    stages spend their time in code that releases the GIL (Arrow, polars, numba kernels); ftfy
    and langdetect, which hold it, run on as many helper processes when a block has enough
    text for them (`offload`).
    """
    check_config(config)
    options = options or PrepareOptions()
    for item in inputs:  # replacing OUT would delete them, --overwrite or not
        if Path(out_dir).resolve() in item.path.resolve().parents:
            raise OutputFolderError(f"{out_dir} holds the input {item.path}: write the dataset to "
                                    "another folder than the release files")
    marker = {"format": "ultrachat-dataset", "config": config, "written_by": written_by,
              "inputs": {item.source: item.path.stat().st_size for item in inputs}}
    with building(out_dir, marker, overwrite) as out:
        return _prepare_into(out, inputs, config, options, progress, workers)


def _prepare_into(out: Path, inputs: list[InputFile], config: str, options: PrepareOptions,
                  progress: bool, workers: int | None) -> Report:
    workers = workers or min(4, os.cpu_count() or 1)
    folders = list(SECTORS) if config == "all" else [config]
    written = [UNLABELLED] if _only_unlabelled(inputs) else folders
    benchmark = BenchmarkFilter(load_prompts(options.decontaminate)) if options.decontaminate else None
    report = Report(options={"config": config, **options.as_dict()})
    deduplicator = Deduplicator(options.dedup)
    names = _RowNames()
    statistics = StatsCollector(written, STATS_SAMPLE)
    output = DatasetWriter(out / "data",
                           on_written=lambda sector, prepared, rows: statistics.add(
                               sector, prepared["messages"], rows))
    accounts = ReadAccounts(inputs, report)
    with RejectWriter(out / "rejects" / f"{config}.parquet") as rejects:

        def take_back(done: Processed) -> None:
            """Blocks come back in release order: dedup decides each against all before it."""
            accounts.add(done.read)
            rejects.write(done.read.rejects)
            report.add_repairs(done.read.source, done.repairs)
            for table in done.stage_rejects:
                report.add_rejects(table)
                rejects.write(table)
            decision = deduplicator.decide(done.keys)
            names.add(done.rows)
            kept = decision.kept
            output.write_parts(done.parts, kept)
            report.file(done.read.source).kept += int(kept.sum())
            if not kept.all():
                dropped = rejects_from_rows(
                    done.rows.filter(pa.array(~kept)), "dedup",
                    pa.array([reason for reason in decision.reasons if reason], pa.string()),
                    names.describe(decision.duplicate_of[~kept]))
                report.add_rejects(dropped)
                rejects.write(dropped)

        # The bar moves as blocks are decided and written, not as they are read (reading runs
        # ahead), by the bytes on disk that were read up to each block.
        read = _ByteCount()
        with helper_processes(workers), ThreadPoolExecutor(workers, thread_name_prefix="stages") as pool, \
                progress_bar(progress, total=input_bytes(inputs), unit="B", unit_scale=True,
                             desc="preparing") as bar:

            def take_back_and_count(future: Future, read_up_to: int) -> None:
                take_back(future.result())
                totals = report.totals()
                bar.set_postfix_str(f"{totals.kept:,} dialogues kept, {sum(totals.rejected.values()):,} "
                                    "lines rejected", refresh=False)
                bar.update(read_up_to - bar.n)

            running: deque[tuple[Future, int]] = deque()  # submission order: taken back in release order
            try:
                for raw in raw_blocks(inputs, on_progress=read.add):
                    running.append((pool.submit(_per_row_stages, raw, options, benchmark), read.total))
                    while len(running) > workers:  # bounded, so memory stays flat
                        take_back_and_count(*running.popleft())
                while running:
                    take_back_and_count(*running.popleft())
            finally:
                for future, _ in running:  # an error or Ctrl-C: blocks not started are dropped
                    future.cancel()
        # The last row groups are compressed and written (no GIL) while the card's statistics
        # are measured and its module (which imports `datasets`, ~1.5 s) is loaded.
        with ThreadPoolExecutor(2, thread_name_prefix="card") as side:
            loading = side.submit(_card_module)
            measuring = side.submit(statistics.results)
            # Every folder the config promises gets both splits, even when nothing was kept.
            output.close(written)
            card, _ = loading.result(), measuring.result()
    report.check()
    report.write(out / "report.json")
    card.write_card(out, report, progress=progress, statistics=statistics)
    return report


class _ByteCount:
    total = 0

    def add(self, count: int) -> None:
        self.total += count


def _card_module():
    from ..dataset import card
    return card


class _RowNames:
    """Source, line and id of every row decided so far, so a duplicate can name the row it
    duplicates (~30 bytes a dialogue)."""

    def __init__(self):
        self._blocks: list[pa.Table] = []
        self._starts: list[int] = []
        self._rows = 0

    def add(self, rows: pa.Table) -> None:
        self._starts.append(self._rows)
        self._blocks.append(rows.select(["source", "line", "id"]).combine_chunks())
        self._rows += rows.num_rows

    def describe(self, targets: np.ndarray) -> list[str]:
        """"duplicate of SOURCE line N (id X)" for each row number (duplicates are few)."""
        described = []
        for target in targets.tolist():
            block = bisect.bisect_right(self._starts, target) - 1
            row = self._blocks[block].slice(target - self._starts[block], 1).to_pylist()[0]
            described.append(f"duplicate of {row['source']} line {row['line']} (id {row['id']})")
        return described


@dataclass
class Processed:
    """A block after the per-row stages: what read made of it, the rows kept so far, rejects in
    stage order, repairs, dedup keys, and the rows as they would be written."""

    read: Block
    rows: pa.Table
    stage_rejects: list[pa.Table]
    repairs: Counter
    keys: KeyPart
    parts: list[Part]  # the rows as they would be written, cut by folder and split


def _per_row_stages(raw: LineBlock, options: PrepareOptions,
                    benchmark: BenchmarkFilter | None) -> Processed:
    """parse -> validate -> langid -> clean -> decontaminate -> dedup keys -> prepared rows, on
    one block (pure: runs on a worker thread, so the main thread only reads and decides).

    Language goes first so that text repair, the slowest step per turn, never runs on dialogues
    that are dropped for their language anyway.
    """
    block = parse_and_validate(raw, options.odd_turns)
    rows, stage_rejects = block.rows, []
    if options.languages is not None:
        rows, language_rejects, _ = filter_languages(rows, options.languages)
        stage_rejects.append(language_rejects)
    cleaned = clean(rows, options.clean)
    rows = cleaned.rows
    stage_rejects.append(cleaned.rejects)
    if benchmark is not None:
        rows, overlap = benchmark.apply(rows)
        stage_rejects.append(overlap)
    # Stages that drop a few rows hand on slices of the block; the keys and the prepared rows
    # both read the turns whole, so they are joined once, here.
    rows = set_data(rows, one_array(rows.column("data")))
    return Processed(block, rows, stage_rejects, cleaned.repairs, compute_keys(rows, options.dedup),
                     route(prepared_table(rows), is_test(rows, options.test_fraction)))


def _only_unlabelled(inputs: list[InputFile]) -> bool:
    return all(item.sector is None for item in inputs)
