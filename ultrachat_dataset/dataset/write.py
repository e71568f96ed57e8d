"""Prepared rows to parquet shards the Hub serves well, one folder a sector, two splits.

Layout: `data/<sector>/<split>-XXXXX-of-YYYYY.parquet`, `<sector>` one of world, writing,
assistance, or `unlabelled` for Hub rows, which carry no sector. Shards of at most `shard_bytes`
(about 500 MB), row groups of about `row_group_bytes` (about 100 MB), zstd, content-defined
chunking and the page index on. Writing is streamed: at most one row group a shard sits in memory.

Splits: a dialogue is in `test` when a stable hash (BLAKE2b) of its normalised first user turn
falls in the first `test_fraction` of the hash range, else in `train`. The split depends on the
opening prompt alone: reruns, dedup and library upgrades never move a row, and dialogues that
share a prompt never straddle train and test.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..formats import data_to_messages
from ..hashing import sha256_hex
from ..layout import PREPARED_SCHEMA, SPLITS, UNLABELLED
from ..names import TEST_FRACTION  # noqa: F401  (re-exported)
from ..turns import flags, one_array, rows_where, string_buffers

SHARD_BYTES = 500 << 20
ROW_GROUP_BYTES = 100 << 20


def is_test(rows: pa.Table, test_fraction: float = TEST_FRACTION) -> np.ndarray:
    """Which rows go to `test`: by a stable hash of the normalised opening user turn
    (`" ".join(text.lower().split())`: lower case, runs of white space as one space)."""
    openers = one_array(pc.list_element(rows.column("data"), 0))
    # ASCII openers (almost all) are normalised by a compiled pass, with str.split()'s ASCII
    # white space; the others by str.split() itself, which knows Unicode's.
    ascii_rows = np.flatnonzero(flags(pc.string_is_ascii(openers)))
    offsets, data = string_buffers(openers)
    folded, bounds = _lower_split_join(data, offsets, ascii_rows)
    folded, bounds = folded.tobytes(), bounds.tolist()
    keys: list[bytes] = [b""] * len(openers)
    for index, row in enumerate(ascii_rows.tolist()):
        keys[row] = folded[bounds[index]:bounds[index + 1]]
    others = np.ones(len(openers), bool)
    others[ascii_rows] = False
    for row, text in zip(np.flatnonzero(others).tolist(), openers.filter(pa.array(others)).to_pylist()):
        keys[row] = " ".join(text.lower().split()).encode()
    # The first 8 bytes of each BLAKE2b digest, read as big-endian numbers all at once.
    digests = b"".join([hashlib.blake2b(key, digest_size=8).digest() for key in keys])
    return np.frombuffer(digests, ">u8") < np.uint64(int(test_fraction * 2**64))


@numba.njit(nogil=True, cache=True)
def _lower_split_join(data, offsets, rows):  # pragma: no cover (compiled; tested through is_test)
    """`" ".join(text.lower().split())` of each chosen ASCII text, as UTF-8 with offsets. The
    white space of str.split() in ASCII: tab, LF, VT, FF, CR, \\x1c-\\x1f and space."""
    total = 0
    for row in rows:
        total += offsets[row + 1] - offsets[row]
    out = np.empty(total, np.uint8)
    bounds = np.zeros(len(rows) + 1, np.int64)
    size = 0
    for index in range(len(rows)):
        text = data[offsets[rows[index]]:offsets[rows[index] + 1]]
        space = False
        for position in range(len(text)):
            byte = text[position]
            if byte == 32 or 9 <= byte <= 13 or 28 <= byte <= 31:
                space = size > bounds[index]  # a break between words, none before the first
            else:
                if space:
                    out[size] = 32
                    size += 1
                    space = False
                out[size] = byte + 32 if 65 <= byte <= 90 else byte
                size += 1
        bounds[index + 1] = size
    return out, bounds


@dataclass
class Part:
    """The rows of one block bound for one (folder, split): their numbers in the block's prepared
    rows (shared by its parts), and the block's bytes a row (`nbytes` of a table of many slices
    costs ~1 ms: it is measured once a block)."""

    folder: str
    split: str
    prepared: pa.Table
    rows: np.ndarray
    row_bytes: float


def route(prepared: pa.Table, test: np.ndarray) -> list[Part]:
    """Cut prepared rows by sector folder and split, in row order (pure: runs on a worker). Only
    row numbers: the writer takes each part's rows once dedup has decided the block."""
    parts = []
    if prepared.num_rows == 0:
        return parts
    folders = pc.fill_null(prepared.column("sector"), UNLABELLED)
    row_bytes = prepared.nbytes / prepared.num_rows
    for folder in pc.unique(folders).to_pylist():
        in_folder = pc.equal(folders, folder).to_numpy(zero_copy_only=False)
        for split, chosen in (("train", in_folder & ~test), ("test", in_folder & test)):
            if chosen.any():
                parts.append(Part(folder, split, prepared, np.flatnonzero(chosen), row_bytes))
    return parts


class DatasetWriter:
    """Routes prepared rows to one `ShardWriter` per (sector folder, split)."""

    def __init__(self, data_dir: str | Path, on_written=lambda folder, prepared, rows: None,
                 **shard_options):
        """`on_written(folder, prepared rows, row numbers)` sees every row written: the rows of
        a block's prepared table at those numbers (for statistics, which need no copy of them)."""
        self.data_dir = Path(data_dir)
        self.on_written = on_written
        self.shard_options = shard_options
        self.writers: dict[tuple[str, str], ShardWriter] = {}

    def write_parts(self, parts: list[Part], kept: np.ndarray) -> None:
        """Parts cut by `route`, keeping only the rows `kept` (by row number in the block): as
        slices of the block where few rows are dropped (`rows_where`), so no text is copied."""
        for part in parts:
            written = part.rows[kept[part.rows]]
            if len(written):
                chosen = np.zeros(part.prepared.num_rows, bool)
                chosen[written] = True
                table = rows_where(part.prepared, chosen)
                self._writer(part.folder, part.split).write(table, round(part.row_bytes * len(written)))
                self.on_written(part.folder, part.prepared, written)

    def _writer(self, folder: str, split: str) -> ShardWriter:
        if (folder, split) not in self.writers:
            self.writers[(folder, split)] = ShardWriter(self.data_dir / folder, split,
                                                        **self.shard_options)
        return self.writers[(folder, split)]

    def close(self, folders: list[str]) -> dict[tuple[str, str], list[Path]]:
        """Finish every shard; each folder asked for gets both splits, even an empty one."""
        for folder in folders:
            for split in SPLITS:
                self._writer(folder, split)
        for writer in self.writers.values():  # every last row group is compressed at once
            writer.flush()
        return {key: writer.close() for key, writer in sorted(self.writers.items())}


def prepared_table(rows: pa.Table) -> pa.Table:
    """Parsed, cleaned rows (with `data`) as prepared rows (with `messages`)."""
    data = rows.column("data")
    language = (rows.column("language") if "language" in rows.column_names
                else pa.nulls(rows.num_rows, pa.string()))
    exchanges = pc.divide(pc.list_value_length(data), 2).cast(pa.int32())
    key = pc.binary_join_element_wise(rows.column("source"), rows.column("line").cast(pa.string()), ":")
    prompt = pc.list_element(data, 0)
    # The validate stage hashes the opener as released (before any repair), as ultrachat_200k does.
    prompt_id = (rows.column("prompt_id") if "prompt_id" in rows.column_names
                 else sha256_hex(prompt))
    flags = (rows.column("flags") if "flags" in rows.column_names
             else pa.array([[]] * rows.num_rows, pa.list_(pa.string())))
    return pa.Table.from_arrays([key, rows.column("id"), rows.column("sector"), rows.column("source"),
                                 rows.column("line"), prompt, prompt_id, data_to_messages(data),
                                 exchanges, language, flags], schema=PREPARED_SCHEMA)


class ShardWriter:
    """Writes tables in order into numbered shards; `close()` names them `-of-` the final count."""

    def __init__(self, directory: str | Path, split: str = "train", *,
                 shard_bytes: int = SHARD_BYTES, row_group_bytes: int = ROW_GROUP_BYTES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.split = split
        self.shard_bytes, self.row_group_bytes = shard_bytes, row_group_bytes
        self.paths: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_size = 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        # Row groups are compressed and written on a thread of their own (pyarrow releases the
        # GIL), so the caller prepares the next rows meanwhile; one group at a time keeps order.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
        self._writing: Future | None = None

    def write(self, table: pa.Table, nbytes: int | None = None) -> None:
        """`nbytes`: the table's size if the caller knows it (row groups are cut by size)."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_bytes += table.nbytes if nbytes is None else nbytes
        self.rows += table.num_rows
        if self._pending_bytes >= self.row_group_bytes:
            self.flush()

    def flush(self) -> None:
        """The rows held so far, written as a row group (on the writer's thread)."""
        if not self._pending:
            return
        tables, self._pending, self._pending_bytes = self._pending, [], 0
        self._wait()
        self._writing = self._background.submit(self._write_group, tables)

    def _write_group(self, tables: list[pa.Table]) -> None:
        group = pa.concat_tables(tables)  # chunks as they came: the file is the same without a copy
        if self._writer is None or self._shard_size >= self.shard_bytes:
            self._open_shard(group.schema)
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._shard_size += group.nbytes

    def _wait(self) -> None:
        """Until the group being written is on disk (raising its error, if any)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _open_shard(self, schema: pa.Schema = PREPARED_SCHEMA) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.directory / f".{self.split}-{len(self.paths):05d}.parquet.partial"
        self.paths.append(path)
        self._writer = pq.ParquetWriter(path, schema, compression="zstd", write_page_index=True,
                                        use_content_defined_chunking=True)
        self._shard_size = 0

    def close(self) -> list[Path]:
        """Finish and rename the shards; a split with no row still gets one (empty) shard."""
        self.flush()
        self._wait()
        self._background.shutdown()
        if self._writer is None:
            self._open_shard()
        self._writer.close()
        final = []
        for index, path in enumerate(self.paths):
            name = f"{self.split}-{index:05d}-of-{len(self.paths):05d}.parquet"
            final.append(path.rename(self.directory / name))
        self.paths = final
        return final
