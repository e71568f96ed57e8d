"""`ultrachat convert`: files or a prepared folder from one chat format to another.

- A folder to a folder: every shard converted into the same layout, with a dataset card whose
  configs, splits and features describe the new columns (so `load_dataset(converted, "writing")`
  works, offline too), built aside and swapped in whole like `prepare`'s output. A ShareGPT
  folder also gets LLaMA-Factory's `dataset_info.json`: one entry a config and split.
- A folder to a `.jsonl` or `.parquet` file: one config's split (`config`, `split`) in one file.
- A file to a file.

Parquet is converted batch by batch (memory stays flat); JSON Lines files are read whole. A
file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from ..dataset.card import describe_configs
from ..dataset.folder import building, read_marker
from ..errors import ConfigError
from ..formats import convert
from ..layout import SPLITS, folder_configs, shard_files
from ..progress import progress_bar

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
FILE_SUFFIXES = (*JSONL_SUFFIXES, ".parquet")
LLAMA_FACTORY_INFO = "dataset_info.json"
# Names that are files to anyone: refused as a target (converting into them made a folder).
OTHER_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".arrow", ".feather", ".gz", ".zst", ".xlsx", ".pq")


def convert_path(source: str | Path, target: str | Path, to: str, system: str | None = None,
                 tokenizer=None, max_tokens: int | None = None, config: str | None = None,
                 split: str = "train", overwrite: bool = False, progress: bool = False) -> list[Path]:
    """Convert a file, or a prepared folder (into a folder, or one config's split into a file);
    returns the files written. `progress`: a bar over the dialogues converted."""
    source, target = Path(source), Path(target)
    with progress_bar(progress, unit=" dialogues", desc=f"converting to {to}") as bar:
        counted = _Counted(_converter(to, system, tokenizer, max_tokens), bar)
        return _convert_path(source, target, to, counted, config, split, overwrite)


class _Counted:
    """A table converter that moves the progress bar by the dialogues it converts."""

    def __init__(self, convert_table, bar):
        self.convert_table, self.bar = convert_table, bar

    def expect(self, files: list[Path]) -> None:
        """The files about to be converted: their dialogues are the bar's total (parquet only)."""
        if files and all(path.suffix == ".parquet" for path in files):
            self.bar.reset(total=sum(pq.ParquetFile(path).metadata.num_rows for path in files))

    def __call__(self, table: pa.Table) -> pa.Table:
        converted = self.convert_table(table)
        self.bar.update(table.num_rows)
        return converted


def _convert_path(source: Path, target: Path, to: str, convert_table: _Counted, config: str | None,
                  split: str, overwrite: bool) -> list[Path]:
    if source.is_dir():
        configs = folder_configs(source)
        if not configs:
            raise ConfigError(f"{source} is not a prepared folder (no data/<sector>/ shards): give a "
                              "folder written by `ultrachat prepare`, or a .parquet/.jsonl file")
        if target.suffix in FILE_SUFFIXES or target.suffix.lower() in OTHER_FILE_SUFFIXES:
            _check_file_suffix(target)
            config = config or (read_marker(source) or {}).get("config") or next(iter(configs))
            if config not in configs:
                raise ConfigError(f"{source} has no config {config!r}: choose from {', '.join(configs)}")
            if split not in SPLITS:
                raise ConfigError(f"unknown split {split!r}: choose from {', '.join(SPLITS)}")
            files = shard_files(source, configs[config], (split,))
            convert_table.expect(files)
            return [_write_file(files, target, convert_table)]
        return _convert_folder(source, target, to, convert_table, overwrite)
    if not source.is_file():
        raise ConfigError(f"{source} does not exist")
    if target.suffix not in FILE_SUFFIXES:
        raise ConfigError(f"{target}: name the output .parquet or .jsonl (a file is converted to a file)")
    convert_table.expect([source])
    return [_write_file([source], target, convert_table)]


def _check_file_suffix(target: Path) -> None:
    if target.suffix not in FILE_SUFFIXES:
        raise ConfigError(f"{target}: a file is written as .parquet or .jsonl (or .json); a folder "
                          "is a path without such a suffix")


def _converter(to: str, system: str | None, tokenizer, max_tokens: int | None):
    if to != "template":
        return lambda table: convert(table, to, system)
    if tokenizer is None:
        raise ConfigError("--to template needs --tokenizer (a local folder or a Hub name)")
    return lambda table: _template(table, tokenizer, max_tokens, system)


def _convert_folder(source: Path, target: Path, to: str, convert_table: _Counted,
                    overwrite: bool) -> list[Path]:
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise ConfigError(f"{target} is {source} (or inside it): convert into another folder, so "
                          "the prepared dataset stays as it is")
    marker = read_marker(source) or {}
    configs = folder_configs(source)
    new_marker = {"format": "ultrachat-dataset", "config": marker.get("config") or next(iter(configs)),
                  "written_by": "convert", "converted_to": to, "converted_from": str(source.resolve())}
    files = shard_files(source, _present_folders(source))
    convert_table.expect(files)
    with building(target, new_marker, overwrite) as staging:
        written = [_write_file([path], staging / path.relative_to(source), convert_table)
                   for path in files]
        _write_converted_card(staging, source, to)
        if to == "sharegpt":
            _write_llama_factory_info(staging)
    return [target / path.relative_to(staging) for path in written]


def _batches(path: Path) -> Iterator[pa.Table]:
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield pa.Table.from_batches([batch])
    elif path.suffix in JSONL_SUFFIXES:
        yield pajson.read_json(path)
    else:
        raise ConfigError(f"{path}: expected .parquet or .jsonl")


def _write_file(sources: list[Path], target: Path, convert_table) -> Path:
    """`sources` converted into the one file `target` (written aside, renamed when complete)."""
    if target.is_dir():
        raise ConfigError(f"{target} is a folder: name a .parquet or .jsonl file to write")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    jsonl, writer = target.suffix in JSONL_SUFFIXES, None
    try:
        with open(partial, "wb") if jsonl else contextlib.nullcontext() as handle:
            for path in sources:
                for table in _batches(path):
                    out = convert_table(table)
                    if jsonl:
                        pl.from_arrow(out).write_ndjson(handle)
                    else:
                        writer = writer or pq.ParquetWriter(partial, out.schema, compression="zstd")
                        writer.write_table(out)
        if not jsonl and writer is None:  # no row at all: still a valid (empty) file
            writer = pq.ParquetWriter(partial, convert_table(_empty_like(sources[0])).schema)
        if writer is not None:
            writer.close()
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _empty_like(path: Path) -> pa.Table:
    return pq.read_schema(path).empty_table() if path.suffix == ".parquet" else pa.table({})


def _template(table: pa.Table, tokenizer, max_tokens, system) -> pa.Table:
    from .template import TEMPLATE_SCHEMA, render_batch
    messages = convert(table, "messages", system)
    wanted = [name for name in ("key", "id", "messages") if name in messages.column_names]
    return pa.Table.from_pydict(render_batch(tokenizer, messages.select(wanted).to_pydict(), max_tokens),
                                schema=TEMPLATE_SCHEMA)


def _write_converted_card(folder: Path, source: Path, to: str) -> None:
    """A card whose YAML describes the converted shards: configs, splits, features."""
    features = datasets.Features.from_arrow_schema(_schema(folder))
    card_data = DatasetCardData(pretty_name=f"UltraChat ({to})", license="mit", language=["en"],
                                task_categories=["text-generation"], tags=["chat", "sft", "multi-turn"])
    config_rows, default = describe_configs(folder, features, card_data)
    rows = "\n".join(f"| `{row['name']}` | {row['train']} | {row['test']} |" for row in config_rows)
    body = (f"# UltraChat, as `{to}`\n\nConverted by `ultrachat convert --to {to}` from the prepared "
            f"folder `{source.name}` (its card describes the cleaning). Columns: "
            f"{', '.join(f'`{name}`' for name in features)}.\n\n| config | train | test |\n|---|---|---|\n"
            f"{rows}\n\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"{folder.name}\", "
            f"\"{default}\")\n```\n")
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}").save(folder / "README.md")


def _present_folders(folder: Path) -> list[str]:
    """The sector folders a prepared folder holds, in their order."""
    return list(dict.fromkeys(name for folders in folder_configs(folder).values() for name in folders))


def _schema(folder: Path) -> pa.Schema:
    return pq.read_schema(shard_files(folder, _present_folders(folder))[0])


def _write_llama_factory_info(folder: Path) -> None:
    """LLaMA-Factory's `dataset_info.json`: `ultrachat_<config>_<split>` for each config and split,
    read through the card (so test never mixes into train), with the columns and tags named."""
    has_system = "system" in _schema(folder).names
    entries = {}
    for config in folder_configs(folder):
        for split in SPLITS:
            entries[f"ultrachat_{config}_{split}"] = {
                "script_url": ".", "subset": config, "split": split, "formatting": "sharegpt",
                "columns": {"messages": "conversations", **({"system": "system"} if has_system else {})},
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                         "assistant_tag": "gpt", "system_tag": "system"},
            }
    (folder / LLAMA_FACTORY_INFO).write_text(json.dumps(entries, indent=2) + "\n")
