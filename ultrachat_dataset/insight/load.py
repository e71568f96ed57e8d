"""The dialogues the statistics measure, from any form of the data: a prepared folder (after
cleaning, streamed row group by row group), a raw release folder (before: read and validated
only), or a parquet / JSON Lines file in messages, ShareGPT or raw form."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..layout import shard_files
from ..progress import progress_bar
from .stats import SectorStats, compute, summarise


def is_prepared_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "README.md").is_file() and (path / "data").is_dir()


def stats_of(path: str | Path, config: str = "all", sample: int = 2000, seed: int = 0,
             tokenizer=None, progress: bool = False) -> list[SectorStats]:
    """Stats of anything `load_dialogues` reads; a prepared folder is streamed."""
    if is_prepared_folder(path):
        return compute_folder(path, config, sample, seed, tokenizer, progress)
    return compute(load_dialogues(path, config, progress), sample, seed, tokenizer)


def load_dialogues(path: str | Path, config: str = "all", progress: bool = False) -> pa.Table:
    """`sector` and `messages` of every dialogue in a prepared folder, a release folder or a file."""
    from ..formats import convert
    path = Path(path)
    if is_prepared_folder(path):
        from ..layout import split_files
        files = [f for split in ("train", "test") for f in split_files(path, config, split)]
        return pa.concat_tables(pq.read_table(f, columns=["sector", "messages"]) for f in files)
    if path.is_dir():  # the raw release: read and validated, nothing cleaned
        from ..rejects import Report
        from ..release.sources import local_inputs
        from ..stages.reading import read_validated
        blocks = [rows.select(["sector", "data"])
                  for rows in read_validated(local_inputs(config, path), Report(), progress=progress)]
        table = pa.concat_tables(blocks)
    elif path.suffix == ".parquet":
        table = pq.read_table(path)
    elif path.suffix in (".jsonl", ".json"):
        import pyarrow.json as pajson
        table = pajson.read_json(path)
    else:
        raise ConfigError(f"{path}: give a prepared folder, a release folder, or a .parquet/.jsonl")
    sector = (table.column("sector") if "sector" in table.column_names
              else pa.nulls(table.num_rows, pa.string()))
    messages = convert(table, "messages").column("messages")
    return pa.table({"sector": sector, "messages": messages})


def compute_folder(folder: str | Path, config: str = "all", sample: int = 2000, seed: int = 0,
                   tokenizer=None, progress: bool = False) -> list[SectorStats]:
    """The same over a prepared folder, streamed row group by row group: memory stays flat."""
    from ..layout import folder_configs
    sources, rows = {}, 0
    for sector in folder_configs(folder)[config]:
        files = shard_files(folder, [sector])
        rows += sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        sources[sector] = _messages_of_files(files)
    with progress_bar(progress, total=rows, unit=" dialogues", desc="statistics") as bar:
        return summarise(sources, sample, seed, tokenizer, bar.update)


def _messages_of_files(files: list[Path]):
    for path in files:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=["messages"]).column("messages")
