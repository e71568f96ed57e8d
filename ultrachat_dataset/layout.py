"""The folder format every layer agrees on: config and sector names, the prepared row's schema
and `datasets` features, where a config's split lives in a prepared folder
(`data/<sector>/<split>-XXXXX-of-YYYYY.parquet`, `unlabelled` for Hub rows), and where the
library keeps what it downloads or builds once (`cache_root`)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from .errors import ConfigError
from .formats import MESSAGES_TYPE
from .names import CONFIGS, SECTORS  # noqa: F401  (re-exported)

CONFIG_DESCRIPTIONS = {
    "all": "every sector (and the Hub copy's unlabelled rows, if that was the source)",
    "world": "Questions about the World",
    "writing": "Writing and Creation",
    "assistance": "Assistance on Existent Materials",
}
SPLITS = ("train", "test")
UNLABELLED = "unlabelled"  # the folder of rows whose sector is unknown (the Hub copy)


def cache_root() -> Path:
    """$ULTRACHAT_CACHE, else ~/.cache/ultrachat ($XDG_CACHE_HOME/ultrachat where that is set)."""
    return Path(os.environ.get("ULTRACHAT_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ultrachat")


def check_config(config: str) -> str:
    if config not in CONFIGS:
        raise ConfigError(f"unknown config {config!r}: choose one of {', '.join(CONFIGS)}")
    return config


PREPARED_SCHEMA = pa.schema([
    ("key", pa.string()),  # unique and stable: "<source>:<line>" (release ids repeat across files)
    ("id", pa.string()),  # the release's id
    ("sector", pa.string()),
    ("source", pa.string()),
    ("line", pa.int64()),
    ("prompt", pa.string()),  # the opening user turn, and the sha256 hex of it: as ultrachat_200k
    ("prompt_id", pa.string()),
    ("messages", MESSAGES_TYPE),
    ("num_exchanges", pa.int32()),
    ("language", pa.string()),
    # What the stages noticed and kept (a policy of "flag"): filter on it, e.g. drop the rows
    # whose flags hold "replacement_character". Codes and meanings: the README's table of flags.
    ("flags", pa.list_(pa.string())),
])


def shard_files(out_dir: str | Path, folders: list[str], splits: tuple[str, ...] = SPLITS) -> list[Path]:
    """The shards of `splits` in the sector `folders` of a prepared folder, folder by folder."""
    return [path for folder in folders for split in splits
            for path in sorted((Path(out_dir) / "data" / folder).glob(f"{split}-*.parquet"))]


def dataset_features():
    """The prepared row as `datasets.Features`, derived from the Arrow schema (`datasets` 3.x
    spells the list of messages as a one-item list, >= 4 as `List`; imported here: it is slow)."""
    import datasets
    return datasets.Features.from_arrow_schema(PREPARED_SCHEMA)


def folder_configs(out_dir: str | Path) -> dict[str, list[str]]:
    """config name -> the sector folders it reads. `all` when the folder holds the whole release."""
    data = Path(out_dir) / "data"
    present = [name for name in (*SECTORS, UNLABELLED) if (data / name).is_dir()]
    configs = {sector: [sector] for sector in SECTORS if sector in present}
    if UNLABELLED in present or set(SECTORS) <= set(present):
        configs = {"all": present, **configs}
    return configs


def data_files(folders: list[str], split: str) -> str | list[str]:
    paths = [f"data/{folder}/{split}-*.parquet" for folder in folders]
    return paths[0] if len(paths) == 1 else paths


def split_files(folder: str | Path, config: str = "all", split: str = "train") -> list[Path]:
    """The parquet shards of a config's split in a prepared folder (per the card's layout)."""
    configs = folder_configs(folder)
    if config not in configs:
        raise ConfigError(f"{folder} has no config {config!r}: it has {', '.join(configs) or 'none'}")
    return shard_files(folder, configs[config], (split,))
