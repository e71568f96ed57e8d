"""Runs the stages (`stages.registry.STAGES`) block by block: read -> validate -> langid -> clean
-> decontaminate -> dedup -> write.

Each stage returns a `StageResult`: the rows it keeps and the rows it rejects with a reason; the
`Report` counts both per file and per stage (with the seconds each stage took), and
`Report.check()` proves that every line read is accounted for. One pass: the per-row stages run
on workers, blocks come back in release order, the ordered stage (dedup) decides each block
against every key seen before it (so the first occurrence survives, whatever the block
boundaries) and the kept rows go straight to the output shards. Memory stays flat in corpus size
but for the dedup keys and row names (~300-550 bytes a dialogue).
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..allocator import limit_arenas
from ..dataset.folder import OutputFolderError, building
from ..dataset.write import TEST_FRACTION, DatasetWriter, Part, is_test, prepared_table, route
from ..errors import ConfigError
from ..insight.stats import STATS_SAMPLE, StatsCollector
from ..layout import SECTORS, UNLABELLED, check_config
from ..offload import helper_processes
from ..progress import progress_bar
from ..rejects import RejectWriter, Report
from ..release.read import LineBlock, ReadBatch
from ..release.sources import InputFile
from ..stages.reading import ReadAccounts, input_bytes, parse, raw_blocks
from ..stages.registry import STAGES
from ..stages.stage import Stage, StageResult, flat_options, option, option_fields, options_from_flat
from ..turns import one_array, set_data


@dataclass
class SplitOptions:
    test_fraction: float = option(TEST_FRACTION, "share of prompts in the test split (by a stable "
                                  "hash of the opening turn)")

    def __post_init__(self):
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"--test-fraction (test_fraction) {self.test_fraction}: give a share "
                              "from 0 up to (not including) 1, e.g. 0.01")


class Split:
    """The train/test cut's declaration, beside the stages' (it rejects nothing)."""

    name = "split"
    Options = SplitOptions


OPTION_OWNERS = (*STAGES, Split)


class PrepareOptions:
    """Every option of the pipeline by its flat name: the builder's config field, and with dashes
    the `prepare` flag (`PrepareOptions(odd_turns="reject", languages=None, dedup=("exact",))`).
    Each is declared once, a field of its stage's `Options` (`fields()` lists them)."""

    def __init__(self, **values):
        self.per_stage = options_from_flat(OPTION_OWNERS, values)

    @staticmethod
    def fields():
        return option_fields(OPTION_OWNERS)

    def of(self, owner) -> Any:
        """The `Options` of a stage (or of the split)."""
        return self.per_stage[owner.name]

    @property
    def test_fraction(self) -> float:
        return self.of(Split).test_fraction

    def as_dict(self) -> dict:
        return flat_options(self.per_stage, OPTION_OWNERS)

    def __repr__(self) -> str:
        return f"PrepareOptions({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


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
    limit_arenas()  # before the threads start: peak memory steady (see `allocator`)
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
    stages = [stage for stage in (owner(options.of(owner)) for owner in STAGES) if stage.enabled]
    per_row = [stage for stage in stages if not stage.ordered]
    if any(stage.ordered for stage in stages[:-1]):
        raise TypeError("a stage that decides in release order (`ordered`) must be the last stage")
    ordered = stages[-1] if stages and stages[-1].ordered else None
    report = Report(options={"config": config, **options.as_dict()})
    statistics = StatsCollector(written, STATS_SAMPLE)
    output = DatasetWriter(out / "data",
                           on_written=lambda sector, prepared, rows: statistics.add(
                               sector, prepared["messages"], rows))
    accounts = ReadAccounts(inputs, report)
    # A sector is measured for the card as soon as its last file is written (`finish`).
    files_left = Counter(item.sector or UNLABELLED for item in inputs)
    with RejectWriter(out / "rejects" / f"{config}.parquet") as rejects:

        def record(source: str, ran: Ran) -> None:
            report.record(ran.stage, source, ran.rows_in, ran.result, ran.seconds)
            rejects.write(ran.result.rejects)

        def take_back(done: Processed) -> None:
            """Blocks come back in release order: the ordered stage decides each against all
            before it."""
            source = done.raw.source
            accounts.add(done.raw, done.read, done.read_seconds)
            rejects.write(done.read.rejects)
            for ran in done.ran:
                record(source, ran)
            kept = np.ones(done.rows.num_rows, bool)
            if ordered is not None:
                ran = _timed(ordered, done.rows, lambda rows: ordered.decide(rows, done.keys))
                ran.seconds += done.keys_seconds
                record(source, ran)
                kept = ran.result.kept
            output.write_parts(done.parts, kept)
            report.file(source).kept += int(kept.sum())
            if done.raw.last:
                folder = done.raw.sector or UNLABELLED
                files_left[folder] -= 1
                if not files_left[folder]:
                    statistics.finish(folder)

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
                    running.append((pool.submit(_per_row_stages, raw, per_row, ordered,
                                                options.test_fraction), read.total))
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


@dataclass
class Ran:
    """One stage on one block: the rows it was given, its result, the seconds it took."""

    stage: str
    rows_in: int
    result: StageResult
    seconds: float


def _timed(stage: Stage, rows: pa.Table, run=None) -> Ran:
    started = time.perf_counter()
    result = (run or stage.apply)(rows)
    return Ran(stage.name, rows.num_rows, result, time.perf_counter() - started)


@dataclass
class Processed:
    """A block after the per-row stages (on a worker): what the reader made of it, each stage's
    result, the rows they kept (joined), the ordered stage's keys, and the rows as they would
    be written, cut by folder and split."""

    raw: LineBlock
    read: ReadBatch
    read_seconds: float
    ran: list[Ran]
    rows: pa.Table
    keys: Any
    keys_seconds: float
    parts: list[Part]


def _per_row_stages(raw: LineBlock, per_row: list[Stage], ordered: Stage | None,
                    test_fraction: float) -> Processed:
    """parse, then every per-row stage, the ordered stage's keys and the prepared rows, on one
    block (pure: runs on a worker thread, so the main thread only reads and decides)."""
    batch, read_seconds = parse(raw)
    rows, ran = batch.rows, []
    for stage in per_row:
        ran.append(_timed(stage, rows))
        rows = ran[-1].result.rows
    # Stages that drop a few rows hand on slices of the block; the keys and the prepared rows
    # both read the turns whole, so they are joined once, here.
    rows = set_data(rows, one_array(rows.column("data")))
    started = time.perf_counter()
    keys = ordered.keys(rows) if ordered is not None else None
    return Processed(raw, batch, read_seconds, ran, rows, keys, time.perf_counter() - started,
                     route(prepared_table(rows), is_test(rows, test_fraction)))


def _only_unlabelled(inputs: list[InputFile]) -> bool:
    return all(item.sector is None for item in inputs)
