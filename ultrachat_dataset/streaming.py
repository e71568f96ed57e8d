"""Streaming a prepared dataset to training jobs: many shards, the same count on every rank,
deterministic shuffling per epoch, exact resumption.

Two ways:
- `iterable_dataset(...)`: a `datasets.IterableDataset` over at least `num_shards` chunks (row
  groups cut into row ranges), so `split_dataset_by_node`, DataLoader workers and `.shuffle(seed)`
  / `set_epoch` / `state_dict()` of `datasets` all have shards to work with.
- `DistributedStream(...)`: for multi-GPU training where every rank must see exactly the same
  number of examples per epoch (uneven ranks hang collective ops). The epoch's order is a pure
  function of (seed, epoch): row groups in a seeded permutation, rows within each group permuted
  too. Rank r takes positions [r*q, (r+1)*q) of that order, its DataLoader workers split that
  range, and `remainder` decides the q: "drop" (q = N // world_size; the last N % world_size
  positions of the epoch's order are skipped, different examples each epoch) or "pad"
  (q = ceil(N / world_size); the order wraps around, repeating the first few). Resuming from
  `state_dict()` continues exactly where the stream stopped: there is no shuffle buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .errors import ConfigError
from .write import shard_files

try:  # a torch IterableDataset when torch is there, so DataLoader takes the iterable path
    from torch.utils.data import IterableDataset as _IterableBase
    from torch.utils.data import get_worker_info as _torch_worker_info
except ImportError:  # pragma: no cover - torch is optional
    _IterableBase = object
    _torch_worker_info = None

REMAINDERS = ("drop", "pad")


def split_files(folder: str | Path, config: str = "all", split: str = "train") -> list[Path]:
    """The parquet shards of a config's split in a prepared folder (per the card's layout)."""
    from .publish import folder_configs
    configs = folder_configs(folder)
    if config not in configs:
        raise ConfigError(f"{folder} has no config {config!r}: it has {', '.join(configs) or 'none'}")
    return shard_files(folder, configs[config], (split,))


@dataclass(frozen=True)
class Chunk:
    """Rows [start, stop) of one row group of one file."""

    path: str
    row_group: int
    start: int
    stop: int


def plan_chunks(files: list[Path], min_chunks: int = 64) -> list[Chunk]:
    """Row groups, cut into equal row ranges where needed so that there are >= min_chunks."""
    groups = [(str(path), index, meta.row_group(index).num_rows)
              for path in files for meta in [pq.ParquetFile(path).metadata]
              for index in range(meta.num_row_groups)]
    total = sum(rows for _, _, rows in groups)
    rows_per_chunk = max(1, total // max(min_chunks, 1)) if total else 1
    chunks = []
    for path, index, rows in groups:
        cuts = max(1, rows // rows_per_chunk)
        bounds = np.linspace(0, rows, cuts + 1).astype(int)
        chunks += [Chunk(path, index, int(a), int(b)) for a, b in zip(bounds, bounds[1:]) if b > a]
    return chunks


def _chunk_rows(chunks: list[Chunk], columns: list[str] | None = None) -> Iterator[dict]:
    for chunk in chunks:
        table = pq.ParquetFile(chunk.path).read_row_group(chunk.row_group, columns=columns)
        yield from table.slice(chunk.start, chunk.stop - chunk.start).to_pylist()


def iterable_dataset(folder: str | Path, config: str = "all", split: str = "train",
                     num_shards: int = 64):
    """A `datasets.IterableDataset` of a prepared folder with at least `num_shards` shards.

    `datasets`' own parquet streaming, resharded one shard a row group, when the files hold
    enough row groups (the full corpus does: ~100 MB row groups); otherwise row groups cut into
    row ranges, through a generator (slower per example, fine for small data).
    """
    import datasets

    from .publish import dataset_features
    files = split_files(folder, config, split)
    row_groups = sum(pq.ParquetFile(path).metadata.num_row_groups for path in files)
    if row_groups >= num_shards and hasattr(datasets.IterableDataset, "reshard"):
        stream = datasets.load_dataset("parquet", data_files={split: [str(p) for p in files]},
                                       split=split, streaming=True, features=dataset_features())
        return stream.reshard()
    chunks = plan_chunks(files, num_shards)
    return datasets.IterableDataset.from_generator(_chunk_rows, gen_kwargs={"chunks": chunks},
                                                   features=dataset_features())


class DistributedStream(_IterableBase):
    """Examples of a prepared split for one rank: the same count on every rank, each epoch."""

    def __init__(self, files: list[str | Path], *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, remainder: str = "drop",
                 columns: list[str] | None = None, worker: tuple[int, int] | None = None):
        if remainder not in REMAINDERS:
            raise ConfigError(f"unknown remainder {remainder!r}: choose 'drop' or 'pad'")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is outside world_size {world_size}")
        self.groups = [(str(path), index, meta.row_group(index).num_rows)
                       for path in map(Path, files) for meta in [pq.ParquetFile(path).metadata]
                       for index in range(meta.num_row_groups)]
        self.total = sum(rows for _, _, rows in self.groups)
        if self.total == 0:
            raise ConfigError("nothing to stream: the files hold no rows")
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.remainder, self.columns = shuffle, remainder, columns
        self.worker = worker  # (id, count); None: ask torch's DataLoader, else (0, 1)
        self.epoch = 0
        self._yielded = 0  # examples this (rank, worker) has produced in the current epoch

    @property
    def per_rank(self) -> int:
        """Examples every rank sees each epoch."""
        if self.remainder == "drop":
            return self.total // self.world_size
        return -(-self.total // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._yielded = epoch, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "yielded": self._yielded, "seed": self.seed,
                "rank": self.rank, "world_size": self.world_size, "worker": self._worker()}

    def load_state_dict(self, state: dict) -> None:
        for key in ("seed", "rank", "world_size"):
            if state[key] != getattr(self, key):
                raise ConfigError(f"state was saved with {key}={state[key]}, this stream has "
                                  f"{key}={getattr(self, key)}: resume with the same settings")
        self.epoch, self._yielded = state["epoch"], state["yielded"]

    def _worker(self) -> tuple[int, int]:
        if self.worker is not None:
            return self.worker
        info = _torch_worker_info() if _torch_worker_info else None
        return (info.id, info.num_workers) if info else (0, 1)

    def positions(self) -> tuple[int, int]:
        """This (rank, worker)'s range of positions in the epoch's order."""
        worker, workers = self._worker()
        first = self.rank * self.per_rank
        bounds = np.linspace(first, first + self.per_rank, workers + 1).astype(int)
        return int(bounds[worker]), int(bounds[worker + 1])

    def __len__(self) -> int:
        start, stop = self.positions()
        return stop - start

    def __iter__(self) -> Iterator[dict]:
        start, stop = self.positions()
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.groups)) if self.shuffle else np.arange(len(self.groups))
        sizes = np.array([self.groups[i][2] for i in order])
        group_start = np.concatenate(([0], np.cumsum(sizes)))
        position = start + self._yielded
        while position < stop:
            wrapped = position % self.total  # "pad" wraps around the epoch's order
            slot = int(np.searchsorted(group_start, wrapped, side="right") - 1)
            rows = self._group_rows(int(order[slot]))
            offset = wrapped - group_start[slot]
            take = int(min(stop - position, len(rows) - offset))
            for row in rows[offset:offset + take]:
                self._yielded += 1
                yield row
            position += take

    def _group_rows(self, index: int) -> list[dict]:
        path, row_group, rows = self.groups[index]
        table = pq.ParquetFile(path).read_row_group(row_group, columns=self.columns)
        if self.shuffle:  # rows within a group, seeded by (seed, epoch, group)
            permutation = np.random.default_rng([self.seed, self.epoch, index]).permutation(rows)
            table = table.take(permutation)
        return table.to_pylist()
