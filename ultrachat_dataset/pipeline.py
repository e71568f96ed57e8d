"""Composes the stages shard by shard: read -> validate (-> clean -> langid -> dedup).

Each stage returns the rows it keeps and the rows it rejects with a reason; the `Report` counts
both per file and `Report.check()` proves that every line read is accounted for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from tqdm.auto import tqdm

from .read import READ_REASONS, READ_REPAIRS, read_file
from .rejects import Report
from .sources import find_local
from .validate import VALIDATE_REASONS, VALIDATE_REPAIRS, validate

REASONS = {**READ_REASONS, **VALIDATE_REASONS}
REPAIR_KINDS = {**READ_REPAIRS, **VALIDATE_REPAIRS}


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # the release file name, as rows and rejects name it
    sector: str | None


def local_inputs(config: str, data_dir: str | Path) -> list[InputFile]:
    return [InputFile(found.path, found.release.name, found.release.sector)
            for found in find_local(data_dir, config)]


def read_validated(inputs: list[InputFile], report: Report, *, odd_turns: str = "trim",
                   progress: bool = True) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(valid rows, rejects) block by block over every input, counting lines, rejects and repairs.

    Kept rows are not counted here: the caller counts what it finally keeps.
    """
    total = sum(item.path.stat().st_size for item in inputs)
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading", disable=not progress) as bar:
        for item in inputs:
            report.file(item.source)  # a file with no line still appears in the report
            for batch in read_file(item.path, sector=item.sector, source=item.source,
                                   on_progress=bar.update):
                report.add_lines(item.source, batch.lines)
                report.add_repairs(item.source, batch.repairs)
                report.add_rejects(batch.rejects)
                checked = validate(batch.rows, odd_turns=odd_turns)
                report.add_repairs(item.source, checked.repairs)
                report.add_rejects(checked.rejects)
                yield checked.rows, pa.concat_tables([batch.rejects, checked.rejects])
