"""`ultrachat convert`: files or a prepared folder from one chat format to another.

Parquet is converted batch by batch (memory stays flat); JSON Lines files are read whole.
A prepared folder is converted file by file into the same layout under the output folder, so
the dataset card's `configs:` still apply (copy README.md over if you publish the result).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .errors import ConfigError
from .formats import convert

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


def convert_path(source: str | Path, target: str | Path, to: str, system: str | None = None,
                 tokenizer=None, max_tokens: int | None = None) -> list[Path]:
    """Convert a file, or every parquet file of a folder; returns the files written."""
    source, target = Path(source), Path(target)
    if source.is_dir():
        files = sorted(source.glob("data/**/*.parquet")) or sorted(source.rglob("*.parquet"))
        if not files:
            raise ConfigError(f"{source} holds no parquet file to convert")
        return [_convert_file(path, target / path.relative_to(source), to, system, tokenizer,
                              max_tokens) for path in files]
    if not source.is_file():
        raise ConfigError(f"{source} does not exist")
    return [_convert_file(source, target, to, system, tokenizer, max_tokens)]


def _batches(path: Path) -> Iterator[pa.Table]:
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield pa.Table.from_batches([batch])
    elif path.suffix in JSONL_SUFFIXES:
        yield pajson.read_json(path)
    else:
        raise ConfigError(f"{path}: expected .parquet or .jsonl")


def _convert_file(source: Path, target: Path, to: str, system, tokenizer, max_tokens) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    jsonl = target.suffix in JSONL_SUFFIXES
    if not jsonl and target.suffix != ".parquet":
        raise ConfigError(f"{target}: name the output .parquet or .jsonl")
    with open(target, "wb") if jsonl else contextlib.nullcontext() as handle:
        for table in _batches(source):
            out = _template(table, tokenizer, max_tokens, system) if to == "template" else \
                convert(table, to, system)
            if jsonl:
                pl.from_arrow(out).write_ndjson(handle)
            else:
                writer = writer or pq.ParquetWriter(target, out.schema, compression="zstd")
                writer.write_table(out)
    if writer is not None:
        writer.close()
    return target


def _template(table: pa.Table, tokenizer, max_tokens, system) -> pa.Table:
    from .template import TEMPLATE_SCHEMA, render_batch
    if tokenizer is None:
        raise ConfigError("--to template needs --tokenizer (a local folder or a Hub name)")
    messages = convert(table, "messages", system)
    wanted = [name for name in ("key", "id", "messages") if name in messages.column_names]
    return pa.Table.from_pydict(render_batch(tokenizer, messages.select(wanted).to_pydict(), max_tokens),
                                schema=TEMPLATE_SCHEMA)

