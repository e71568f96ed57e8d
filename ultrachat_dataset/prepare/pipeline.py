"""Composes the stages shard by shard: read -> validate -> langid -> clean -> decontaminate -> dedup.

Each stage returns the rows it keeps and the rows it rejects with a reason; the `Report` counts
both per file and `Report.check()` proves that every line read is accounted for. Two passes:
the first runs every per-row stage block by block, keeps small dedup keys and spools surviving
rows to a temporary folder; the second decides duplicates for the whole corpus at once (so the
first occurrence survives, whatever the block boundaries) and writes the output shards. Memory
stays flat in corpus size but for the dedup keys (~130 bytes a dialogue).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..dataset.folder import OutputFolderError, building
from ..dataset.write import TEST_FRACTION, DatasetWriter, ShardWriter
from ..insight.stats import STATS_SAMPLE, StatsCollector
from ..layout import SECTORS, UNLABELLED, check_config
from ..rejects import RejectWriter, Report, rejects_from_rows
from ..release.sources import InputFile
from ..stages.clean import CleanOptions, clean
from ..stages.decontaminate import BenchmarkFilter, load_prompts
from ..stages.dedup import Decision, DedupKeys, DedupOptions, KeyPart, compute_keys
from ..stages.langid import filter_languages
from ..stages.validate import Block, read_validated
from .parallel import ProcessStages, ThreadStages

PROCESSES_FROM_BYTES = 64 * 2**20
SPOOL_GROUP_BYTES = 32 * 2**20  # the spool is read back whole: small row groups cost nothing




@dataclass
class PrepareOptions:
    odd_turns: str = "trim"
    clean: CleanOptions = field(default_factory=CleanOptions)
    languages: tuple[str, ...] | None = ("en",)  # None: no language filter (and no detection)
    dedup: DedupOptions = field(default_factory=DedupOptions)
    decontaminate: str | None = None  # a file of benchmark prompts
    test_fraction: float = TEST_FRACTION

    def as_dict(self) -> dict:
        return asdict(self)








def prepare(inputs: list[InputFile], out_dir: str | Path, config: str = "all",
            options: PrepareOptions | None = None, progress: bool = True,
            workers: int | None = None, processes: bool | None = None,
            overwrite: bool = False) -> Report:
    """Run every stage over `inputs`; write `OUT/data/<config>/train-*.parquet`,
    `OUT/rejects/<config>.parquet` and `OUT/report.json`. Returns the report.

    OUT is built aside and swapped in whole when complete (`folder.building`): an interrupted
    run leaves the previous OUT untouched. A non-empty OUT that `prepare` did not write, or that
    holds another config, is refused unless `overwrite`.

    Blocks go through the per-row stages on `workers` child processes (default: one a core),
    or threads in this process (`processes=False`; the default for inputs under
    `PROCESSES_FROM_BYTES`, where starting processes costs more than it saves), and are taken
    back in order, so the output is the same whatever the number or kind of workers.
    """
    check_config(config)
    options = options or PrepareOptions()
    for item in inputs:  # replacing OUT would delete them, --overwrite or not
        if Path(out_dir).resolve() in item.path.resolve().parents:
            raise OutputFolderError(f"{out_dir} holds the input {item.path}: write the dataset to "
                                    "another folder than the release files")
    marker = {"format": "ultrachat-dataset", "config": config,
              "inputs": {item.source: item.path.stat().st_size for item in inputs}}
    with building(out_dir, marker, overwrite) as out:
        return _prepare_into(out, inputs, config, options, progress, workers, processes)


def _prepare_into(out: Path, inputs: list[InputFile], config: str, options: PrepareOptions,
                  progress: bool, workers: int | None, processes: bool | None) -> Report:
    workers = workers or min(4, os.cpu_count() or 1)
    if processes is None:
        processes = workers > 1 and sum(item.path.stat().st_size for item in inputs) >= PROCESSES_FROM_BYTES
    stages = ProcessStages if processes else ThreadStages
    spool = out / ".spool"
    folders = list(SECTORS) if config == "all" else [config]
    benchmark = BenchmarkFilter(load_prompts(options.decontaminate)) if options.decontaminate else None
    report = Report(options={"config": config, **options.as_dict()})
    keys = DedupKeys(options.dedup)
    with RejectWriter(out / "rejects" / f"{config}.parquet") as rejects:
        spooled = ShardWriter(spool, split="spool", spool=True, row_group_bytes=SPOOL_GROUP_BYTES)

        def take_back(done: Processed) -> None:
            report.add_repairs(done.source, done.repairs)
            rejects.write(done.read_rejects)  # counted by read_validated already
            for table in done.stage_rejects:
                report.add_rejects(table)
                rejects.write(table)
            keys.append(done.keys)
            spooled.write(done.rows)

        # The workers live for pass 1 only: pass 2 does not hold their memory.
        with stages(workers, _per_row_stages, (options, benchmark)) as pool:
            for block in read_validated(inputs, report, odd_turns=options.odd_turns,
                                        progress=progress):
                pool.submit(block)
                while pool.pending > workers:  # bounded, so memory stays flat
                    take_back(pool.take())
            while pool.pending:
                take_back(pool.take())
        spool_paths = spooled.close() if spooled.rows else []
        decision = keys.decide()
        written = [UNLABELLED] if _only_unlabelled(inputs) else folders
        statistics = StatsCollector(_kept_per_folder(spool_paths, decision, written), STATS_SAMPLE)
        output = DatasetWriter(out / "data", options.test_fraction,
                               on_written=lambda sector, rows: statistics.add(sector, rows["messages"]))
        _write_deduplicated(spool_paths, decision, output, report, rejects, progress)
        # Every folder the config promises gets both splits, even when nothing was kept.
        output.close(written)
    shutil.rmtree(spool, ignore_errors=True)
    report.check()
    report.write(out / "report.json")
    from ..dataset.card import write_card
    write_card(out, report, progress=progress, statistics=statistics)
    return report


@dataclass
class Processed:
    """A block after the per-row stages: kept rows, rejects in stage order, repairs, dedup keys."""

    source: str
    rows: pa.Table
    read_rejects: pa.Table
    stage_rejects: list[pa.Table]
    repairs: Counter
    keys: KeyPart


def _per_row_stages(block: Block, options: PrepareOptions,
                    benchmark: BenchmarkFilter | None) -> Processed:
    """langid -> clean -> decontaminate -> dedup keys on one block (pure: runs on a worker).

    Language goes first so that text repair, the slowest step per turn, never runs on dialogues
    that are dropped for their language anyway.
    """
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
    return Processed(block.source, rows, block.rejects, stage_rejects, cleaned.repairs,
                     compute_keys(rows, options.dedup))


def _only_unlabelled(inputs: list[InputFile]) -> bool:
    return all(item.sector is None for item in inputs)


def _kept_per_folder(spool_paths: list[Path], decision: Decision, written: list[str]) -> dict[str, int]:
    """Rows that pass 2 will write, per sector folder, in the folders' order (for statistics)."""
    sectors = (pa.concat_arrays([pq.read_table(path, columns=["sector"]).column("sector").combine_chunks()
                                 for path in spool_paths]) if spool_paths else pa.array([], pa.string()))
    kept = np.array([reason is None for reason in decision.reasons], bool)
    counts = Counter(pc.fill_null(sectors, UNLABELLED).filter(pa.array(kept)).to_pylist())
    return {folder: counts.get(folder, 0) for folder in (*SECTORS, UNLABELLED)
            if folder in written or folder in counts}


def _write_deduplicated(spool_paths: list[Path], decision: Decision, output: DatasetWriter,
                        report: Report, rejects: RejectWriter, progress: bool) -> None:
    """Second pass: drop what `decision` says are duplicates; name the row each duplicates."""
    duplicated = decision.duplicate_of != np.arange(len(decision.duplicate_of))
    is_target = np.zeros(len(decision.duplicate_of), bool)
    is_target[decision.duplicate_of[duplicated]] = True
    seen: dict[int, str] = {}  # a kept row some duplicate points to -> "source line N (id X)"
    offset = 0
    with tqdm(total=len(decision.reasons), unit="dialogues", desc="deduplicating",
              disable=not progress) as bar:
        for path in spool_paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
                rows = pa.Table.from_batches([batch])
                index = np.arange(offset, offset + rows.num_rows)
                reasons = decision.reasons[offset:offset + rows.num_rows]
                offset += rows.num_rows
                _remember_targets(rows, index, is_target, seen)
                duplicate = np.array([reason is not None for reason in reasons], bool)
                kept = rows.filter(pa.array(~duplicate))
                report.add_kept(kept)
                output.write(kept)
                if duplicate.any():
                    details = [seen[target] for target in decision.duplicate_of[index[duplicate]]]
                    dropped = rejects_from_rows(rows.filter(pa.array(duplicate)), "dedup",
                                                pa.array([r for r in reasons if r], pa.string()),
                                                pa.array(details, pa.string()))
                    report.add_rejects(dropped)
                    rejects.write(dropped)
                bar.update(rows.num_rows)


def _remember_targets(rows: pa.Table, index: np.ndarray, is_target: np.ndarray, seen: dict) -> None:
    wanted = np.flatnonzero(is_target[index])
    if len(wanted) == 0:
        return
    picked = rows.take(pa.array(wanted))
    for position, source, line, row_id in zip(index[wanted], *(
            picked.column(name).to_pylist() for name in ("source", "line", "id"))):
        seen[int(position)] = f"duplicate of {source} line {line} (id {row_id})"

