"""Reading the inputs block by block for the stages, and counting what the reader made of them.

The reader (`release.read`) turns bytes into rows and rejects; here its blocks are gathered over
every input file, counted into the `Report` in release order (lines, rejects, repairs, and the
"read" row of the per-stage counts), and checked for files that are not release files at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pyarrow as pa

from ..progress import progress_bar
from ..rejects import Report
from ..release.read import READ_REASONS, READ_REPAIRS, LineBlock, ReadBatch, ReleaseCheck, line_blocks
from ..release.sources import InputFile
from .validate import Validate, ValidateOptions


class Read:
    """The reader's declaration, as a stage's: its reasons and repairs (it takes bytes, not rows,
    so it heads the pipeline rather than being one of `registry.STAGES`)."""

    name = "read"
    summary = "bytes to rows: every line a dialogue or a reject"
    reasons = READ_REASONS
    repairs = READ_REPAIRS


def input_bytes(inputs: list[InputFile]) -> int:
    """The bytes `raw_blocks` reports through `on_progress` in all (on disk: gzip compressed)."""
    return sum(item.path.stat().st_size for item in inputs)


def raw_blocks(inputs: list[InputFile], *, progress: bool = True,
               on_progress: Callable[[int], None] | None = None) -> Iterator[LineBlock]:
    """Every input's blocks of whole lines, unparsed (cheap: the caller may parse elsewhere).
    `on_progress` gets the bytes read from disk as they are read (else a "reading" bar)."""
    if on_progress is not None:
        for item in inputs:
            yield from line_blocks(item.path, sector=item.sector, source=item.source,
                                   on_progress=on_progress)
        return
    with progress_bar(progress, total=input_bytes(inputs), unit="B", unit_scale=True, desc="reading") as bar:
        yield from raw_blocks(inputs, on_progress=bar.update)


def parse(raw: LineBlock) -> tuple[ReadBatch, float]:
    """One block parsed (pure: runs on a worker thread), and the seconds it took."""
    started = time.perf_counter()
    batch = raw.parse()
    return batch, time.perf_counter() - started


class ReadAccounts:
    """Counts parsed blocks into the report, in release order: lines, rejects, repairs and the
    reader's per-stage row; raises when a whole file is not a release file. Kept rows are not
    counted here: the caller counts what it finally keeps."""

    def __init__(self, inputs: list[InputFile], report: Report):
        self.report = report
        self._check = ReleaseCheck()
        for item in inputs:  # a file with no line still appears in the report
            report.file(item.source)

    def add(self, raw: LineBlock, batch: ReadBatch, seconds: float) -> None:
        self._check.add(raw, batch)
        self.report.add_lines(raw.source, batch.lines)
        self.report.add_repairs(raw.source, batch.repairs)
        self.report.add_rejects(batch.rejects)
        self.report.stage(Read.name).add(batch.lines, batch.rows.num_rows, batch.rejects.num_rows,
                                         batch.repairs, seconds)


def read_validated(inputs: list[InputFile], report: Report, *, odd_turns: str = "trim",
                   progress: bool = True) -> Iterator[pa.Table]:
    """Valid rows block by block over every input, counted into `report` (read and validation:
    lines, rejects, repairs; the caller counts what it keeps)."""
    accounts = ReadAccounts(inputs, report)
    validate = Validate(ValidateOptions(odd_turns))
    for raw in raw_blocks(inputs, progress=progress):
        batch, seconds = parse(raw)
        accounts.add(raw, batch, seconds)
        started = time.perf_counter()
        result = validate.apply(batch.rows)
        report.record(validate.name, raw.source, batch.rows.num_rows, result, time.perf_counter() - started)
        yield result.rows
