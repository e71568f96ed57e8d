"""A `datasets` builder over the pipeline, for any `datasets` version (3.6 to 5.x).

    builder = UltraChat(config_name="writing", source="local", data_dir="release/")
    builder.download_and_prepare(); builder.as_dataset()

The builder stays thin, like `datasets`' packaged parquet builder: `_split_generators` runs the
pipeline (`pipeline.prepare`) into a folder of the builder's cache, and `_generate_tables` yields
that folder's parquet row groups as Arrow tables. Every option of the pipeline is a config field.

The cache is keyed on the options and on a fingerprint of the input files (`input_fingerprint`:
their absolute paths, sizes, modification times and the sha256 the lock file recorded), so
changed files, or another project's `release/`, are prepared anew, never served from the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq

from .errors import ConfigError, SourceError
from .layout import CONFIG_DESCRIPTIONS, CONFIGS, SPLITS, dataset_features, split_files
from .prepare.pipeline import PrepareOptions, prepare
from .release.download import LOCK_NAME, SOURCES, DownloadOptions, LockFile, release_inputs
from .release.sources import find_local

_Key = getattr(datasets.builder, "Key", None)  # datasets >= 4 keys tables with Key(shard, batch)


def _prepare_options(self: UltraChatConfig) -> PrepareOptions:
    """The pipeline options; raises `ConfigError` on a bad value (unknown filter, ...)."""
    if self.source not in SOURCES:
        raise ConfigError(f"unknown source {self.source!r}: choose from {', '.join(SOURCES)}")
    if self.source == "local" and not self.data_dir:
        raise ConfigError("source='local' needs data_dir=DIR holding the release files "
                          "(e.g. ultrachat_release_230407.json)")
    values = {item.name: getattr(self, item.name) for item in PrepareOptions.fields()}
    return PrepareOptions(**{name: tuple(value) if isinstance(value, list) else value
                             for name, value in values.items()})


# A config (`all`, `world`, `writing`, `assistance`), where the release files come from, and every
# option of the pipeline as a field, generated from the stages' declarations (help in
# `PrepareOptions.fields()`), so the builder offers exactly what `prepare` does.
UltraChatConfig = dataclasses.make_dataclass(
    "UltraChatConfig",
    [("source", str, dataclasses.field(default="auto"))]
    + [(item.name, item.type, dataclasses.field(default=item.default)) for item in PrepareOptions.fields()],
    bases=(datasets.BuilderConfig,), namespace={"prepare_options": _prepare_options,
                                                "__module__": __name__})


class UltraChat(datasets.ArrowBasedBuilder):
    """UltraChat (thunlp): cleaned, verified, deduplicated multi-turn dialogues."""

    BUILDER_CONFIG_CLASS = UltraChatConfig
    BUILDER_CONFIGS = [UltraChatConfig(name=name, description=CONFIG_DESCRIPTIONS[name])
                       for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "all"

    def __init__(self, *args, hash: str | None = None, **kwargs):
        # `datasets` keys the cache on the option values alone; the input files join the key here.
        # (`datasets` 3.x passes the loading script's hash: the inputs' are added to it.)
        config = kwargs.get("config_name") or self.DEFAULT_CONFIG_NAME
        inputs = input_fingerprint(config, release_dir(kwargs.get("data_dir"), kwargs.get("cache_dir")),
                                   kwargs.get("decontaminate"))
        super().__init__(*args, hash=f"{hash}-{inputs}" if hash else inputs, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="UltraChat: multi-turn instructional dialogues, cleaned and deduplicated.",
            features=dataset_features(), homepage="https://github.com/thunlp/UltraChat",
            license="mit", citation=CITATION)

    def _split_generators(self, dl_manager):
        options = self.config.prepare_options()
        data_dir = release_dir(self.config.data_dir, self._cache_dir_root)
        inputs = release_inputs(self.config.name, data_dir, DownloadOptions(source=self.config.source))
        out = Path(self._cache_dir_root) / "ultrachat_prepared" / f"{self.config_id}-{self.hash}"
        prepare(inputs, out, self.config.name, options, progress=True)
        return [datasets.SplitGenerator(name=split, gen_kwargs={
            "files": [str(p) for p in split_files(out, self.config.name, split)]}) for split in SPLITS]

    def _as_dataset(self, split=datasets.Split.TRAIN, in_memory=False):
        # `datasets` writes no file for a split with no example, then cannot read it back: a
        # small corpus can have an empty `test`. It is an empty Dataset with the features.
        recorded = (self.info.splits or {}).get(str(split))
        if recorded is not None and recorded.num_examples == 0:
            features = self.info.features
            return datasets.Dataset.from_dict({name: [] for name in features}, features=features,
                                              info=self.info.copy(), split=str(split))
        return super()._as_dataset(split, in_memory)

    def _generate_tables(self, files):
        schema = self.info.features.arrow_schema
        for file_index, path in enumerate(files):
            parquet = pq.ParquetFile(path)
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group).cast(schema)
                key = _Key(file_index, group) if _Key else f"{file_index}_{group}"
                yield key, table


def release_dir(data_dir: str | Path | None, cache_dir: str | Path | None) -> Path:
    """Where the builder reads (or downloads) the release files: `data_dir`, else its cache."""
    if data_dir:
        return Path(data_dir)
    return Path(cache_dir or datasets.config.HF_DATASETS_CACHE).expanduser() / "ultrachat_release"


def _has_local_files(config: str, data_dir: Path) -> bool:
    try:
        return bool(find_local(data_dir, config))
    except SourceError:
        return False


def input_fingerprint(config: str, data_dir: str | Path, decontaminate: str | None = None) -> str:
    """A short hash of what the builder would read: the release files of `config` in `data_dir`
    (absolute path, size, mtime, locked sha256) and the decontamination file. With no file there
    yet (to be downloaded), the folder and what its lock file says."""
    data_dir = Path(data_dir).expanduser().absolute()
    lock = LockFile(data_dir / LOCK_NAME) if (data_dir / LOCK_NAME).is_file() else None
    try:
        paths = [found.path for found in find_local(data_dir, config)]
    except SourceError:
        paths = []
    if decontaminate:
        paths.append(Path(decontaminate).expanduser().absolute())
    described = [[str(data_dir), config, lock.entries if lock else None]]
    for path in paths:
        stat = path.stat() if path.exists() else None
        described.append([str(path.absolute()), stat and stat.st_size, stat and stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


CITATION = """@article{ding2023enhancing,
  title={Enhancing Chat Language Models by Scaling High-quality Instructional Conversations},
  author={Ding, Ning and Chen, Yulin and Xu, Bokai and Qin, Yujia and Zheng, Zhi and Hu, Shengding
          and Liu, Zhiyuan and Sun, Maosong and Zhou, Bowen},
  journal={arXiv preprint arXiv:2305.14233},
  year={2023}
}"""


def load_dataset(config: str = "all", split: str | None = None, streaming: bool = False,
                 cache_dir: str | None = None, **options):
    """UltraChat through the builder, on any `datasets` version.

    `options` are `UltraChatConfig` fields (`source`, `data_dir`, `filters`, `languages`,
    `dedup`, ...). Returns a `DatasetDict` (or a `Dataset` for one `split`), or an
    `IterableDataset(Dict)` when `streaming`.
    """
    if config not in CONFIGS:
        raise ConfigError(f"unknown config {config!r}: choose one of {', '.join(CONFIGS)}")
    unknown = sorted(set(options) - set(UltraChatConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown option {', '.join(unknown)}: choose from " + ", ".join(
            UltraChatConfig.__dataclass_fields__))
    if options.get("data_dir") is not None:
        options["data_dir"] = os.fspath(Path(options["data_dir"]).expanduser().absolute())
    builder = UltraChat(config_name=config, cache_dir=cache_dir, **options)
    builder.config.prepare_options()  # bad option values fail here, before any work
    data_dir = release_dir(options.get("data_dir"), cache_dir)
    if builder.config.source != "local" and not _has_local_files(config, data_dir):
        # Fetch first, so that the cache key holds the files downloaded (else the next load,
        # seeing them, would prepare everything once more).
        release_inputs(config, data_dir, DownloadOptions(source=builder.config.source))
        builder = UltraChat(config_name=config, cache_dir=cache_dir, **options)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
