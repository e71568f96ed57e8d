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
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..layout import split_files

try:  # a torch IterableDataset when torch is there, so DataLoader takes the iterable path
    from torch.utils.data import IterableDataset as _IterableBase
    from torch.utils.data import get_worker_info as _torch_worker_info
except ImportError:  # pragma: no cover - torch is optional
    _IterableBase = object
    _torch_worker_info = None

REMAINDERS = ("drop", "pad")


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
        cuts = max(1, -(-rows // rows_per_chunk))  # rounded up: at least min_chunks in all
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

    from ..layout import dataset_features
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
    """Examples of a prepared split for one rank: the same count on every rank, each epoch, a
    fair mix of the whole split within short windows, resumable exactly (also under workers).

    The epoch's order, a pure function of (seed, epoch): row groups are permuted and dealt to
    `lanes` lanes; positions draw from the lanes in a seeded random interleave (each lane in
    proportion to its rows), so any window of the order mixes `lanes` row groups at once (a
    split whose row groups are each one sector is mixed, not read one sector at a time); rows
    are permuted within blocks of `BLOCK_ROWS` of their row group. Memory: one block a lane.

    Rank r takes positions [r*q, (r+1)*q). DataLoader workers take whole batches of it
    (`batch_size` as the DataLoader's), contiguous, so only the last batch of the rank can be
    short and `len(DataLoader)` is the number of batches that come out.
    """

    def __init__(self, files: list[str | Path], *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, remainder: str = "drop",
                 columns: list[str] | None = None, batch_size: int = 1, lanes: int = 8,
                 worker: tuple[int, int] | None = None):
        if remainder not in REMAINDERS:
            raise ConfigError(f"unknown remainder {remainder!r}: choose 'drop' or 'pad'")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is outside world_size {world_size}")
        if batch_size < 1 or lanes < 1:
            raise ConfigError("batch_size and lanes must be at least 1")
        self.groups = [(str(path), index, meta.row_group(index).num_rows)
                       for path in map(Path, files) for meta in [pq.ParquetFile(path).metadata]
                       for index in range(meta.num_row_groups)]
        self.total = sum(rows for _, _, rows in self.groups)
        if self.total == 0:
            raise ConfigError("nothing to stream: the files hold no rows")
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.remainder, self.columns = shuffle, remainder, columns
        self.batch_size, self.lanes = batch_size, lanes
        self.worker = worker  # (id, count); None: ask torch's DataLoader, else (0, 1)
        self.epoch = 0
        self.consumed = 0  # examples of this rank's epoch the training loop has taken
        self._yielded = 0  # examples this object produced since `consumed` was set

    @property
    def per_rank(self) -> int:
        """Examples every rank sees each epoch."""
        if self.remainder == "drop":
            return self.total // self.world_size
        return -(-self.total // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.consumed, self._yielded = epoch, 0, 0

    def state_dict(self, consumed: int | None = None) -> dict:
        """Where this rank is. Read by DataLoader workers, this object cannot see their progress:
        pass `consumed` (examples your loop took: steps x batch size), or use `StreamLoader`."""
        taken = self.consumed + self._yielded if consumed is None else consumed
        return {"epoch": self.epoch, "consumed": taken, "seed": self.seed, "rank": self.rank,
                "world_size": self.world_size, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        for key in ("seed", "rank", "world_size"):
            if state[key] != getattr(self, key):
                raise ConfigError(f"state was saved with {key}={state[key]}, this stream has "
                                  f"{key}={getattr(self, key)}: resume with the same settings")
        self.epoch, self.consumed, self._yielded = state["epoch"], state["consumed"], 0

    def _worker(self) -> tuple[int, int]:
        if self.worker is not None:
            return self.worker
        info = _torch_worker_info() if _torch_worker_info else None
        return (info.id, info.num_workers) if info else (0, 1)

    def _offsets(self) -> np.ndarray:
        """This (rank, worker)'s offsets in the rank's part of the epoch, in the order it yields
        them. The rank's part is cut into batches of `batch_size`; the batches not yet taken are
        dealt to the workers in turn, as a DataLoader then hands them out in turn: so the loop
        sees the rank's part in order, only its last batch can be short, and a resumed run
        deals the rest from where the loop stopped, whatever the number of workers."""
        worker, workers = self._worker()
        done = -(-self.consumed // self.batch_size)
        batches = np.arange(done + worker, -(-self.per_rank // self.batch_size), workers)
        offsets = (batches[:, None] * self.batch_size + np.arange(self.batch_size)).ravel()
        return offsets[offsets < self.per_rank]

    def __len__(self) -> int:
        return len(self._offsets())

    def __iter__(self) -> Iterator[dict]:
        positions = (self.rank * self.per_rank + self._offsets()) % self.total  # "pad" wraps
        lanes, labels = self._epoch_order()
        lane_positions = [np.flatnonzero(labels == lane) for lane in range(len(lanes))]
        # The order wraps around at most once: an increasing run, then another one.
        for run in np.split(positions, np.flatnonzero(np.diff(positions) < 0) + 1):
            if not len(run):
                continue
            lane_of = labels[run]
            readers = []
            for lane, (groups, where) in enumerate(zip(lanes, lane_positions)):
                rows = np.searchsorted(where, run[lane_of == lane])  # the rows of that lane
                readers.append(self._lane_rows(groups, rows))
            for lane in lane_of:
                self._yielded += 1
                yield next(readers[lane])

    def _epoch_order(self) -> tuple[list[list[int]], np.ndarray]:
        """(row groups of each lane, the lane of every position): the epoch's order."""
        if not self.shuffle:
            return [list(range(len(self.groups)))], np.zeros(self.total, np.int16)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.groups))
        count = min(self.lanes, len(self.groups))
        lanes = [order[lane::count].tolist() for lane in range(count)]
        sizes = [sum(self.groups[g][2] for g in lane) for lane in lanes]
        return lanes, rng.permutation(np.repeat(np.arange(count, dtype=np.int16), sizes))

    def _lane_rows(self, lane: list[int], rows: np.ndarray) -> Iterator[dict]:
        """Rows `rows` (increasing) of a lane, its row groups one after another: only the row
        groups that hold some of them are read, and only those rows become Python dicts."""
        group_start = np.concatenate(([0], np.cumsum([self.groups[g][2] for g in lane])))
        owner = np.searchsorted(group_start, rows, side="right") - 1
        for slot in np.unique(owner):
            wanted = rows[owner == slot] - group_start[slot]
            for block_start, block in self._blocks(lane[slot]):
                inside = wanted[(wanted >= block_start) & (wanted < block_start + block.num_rows)]
                if len(inside):
                    yield from block.take(pa.array(inside - block_start)).to_pylist()
                if block_start + block.num_rows > wanted[-1]:
                    break

    def _blocks(self, group: int) -> Iterator[tuple[int, pa.Table]]:
        """A row group in blocks of `BLOCK_ROWS` rows (rows permuted within a block)."""
        path, row_group, _ = self.groups[group]
        batches = pq.ParquetFile(path).iter_batches(batch_size=BLOCK_ROWS, row_groups=[row_group],
                                                    columns=self.columns)
        position = 0
        for number, block in enumerate(_fixed_blocks(batches, BLOCK_ROWS)):
            if self.shuffle:  # seeded by (seed, epoch, group, block)
                order = np.random.default_rng([self.seed, self.epoch, group, number])
                block = block.take(order.permutation(block.num_rows))
            yield position, block
            position += block.num_rows


BLOCK_ROWS = 1024


def _fixed_blocks(batches, rows: int) -> Iterator[pa.Table]:
    """Record batches regrouped into tables of exactly `rows` rows (the last may be shorter), so
    block boundaries never depend on how the reader happened to cut its batches."""
    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


class StreamLoader:
    """A torch `DataLoader` over a `DistributedStream` that knows where the training loop is.

    DataLoader workers read copies of the stream, whose progress the main process never sees;
    this loader counts the batches it hands out instead, so `state_dict()` is exact with any
    number of workers, and after `load_state_dict()` the workers deal out the rest from there.
    `len()` is the number of batches the epoch (or its rest) yields. Other options go to the
    DataLoader.
    """

    def __init__(self, stream: DistributedStream, batch_size: int = 1, num_workers: int = 0,
                 **loader_options):
        stream.batch_size = batch_size  # the rank's part is dealt out in these batches
        self.stream, self.batch_size, self.num_workers = stream, batch_size, num_workers
        self.loader_options = loader_options
        self._handed_out = 0  # batches handed out since the stream's `consumed` was set

    def __len__(self) -> int:
        return -(-(self.stream.per_rank - self.stream.consumed) // self.batch_size)

    def __iter__(self):
        from torch.utils.data import DataLoader
        loader = DataLoader(self.stream, batch_size=self.batch_size, num_workers=self.num_workers,
                            **self.loader_options)
        self._handed_out = 0
        for batch in loader:
            self._handed_out += 1  # counted when handed out: a checkpoint in the loop body has it
            yield batch

    def set_epoch(self, epoch: int) -> None:
        self.stream.set_epoch(epoch)
        self._handed_out = 0

    def state_dict(self) -> dict:
        consumed = min(self.stream.consumed + self._handed_out * self.batch_size, self.stream.per_rank)
        return self.stream.state_dict(consumed=consumed)

    def load_state_dict(self, state: dict) -> None:
        if state.get("batch_size", self.batch_size) != self.batch_size:
            raise ConfigError(f"state was saved with batch_size={state['batch_size']}, this loader "
                              f"has {self.batch_size}: resume with the same batch size")
        self.stream.load_state_dict(state)
        self._handed_out = 0
