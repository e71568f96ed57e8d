"""Bytes to Arrow: the release's JSON Lines read block by block without losing a line.

A file is read in blocks of whole lines (a 1 GB file never sits in memory). Each block goes
through pyarrow's JSON reader in one call; only where that fails (bad JSON, a wrong type, invalid
UTF-8, two objects on one line, ...) is the block halved until the bad lines are isolated and
parsed one at a time in Python, so one bad line costs one line and a little re-parsing.
Every physical line becomes a row or a reject with its reason: see `READ_REASONS`.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ..errors import DataFileError
from ..rejects import REJECT_SCHEMA, rejects_from_records
from .file_shape import UTF8_BOM, check_file_shape, open_release_file

ROW_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("data", pa.list_(pa.string())),
    ("sector", pa.string()),
    ("source", pa.string()),
    ("line", pa.int64()),
])
_JSON_SCHEMA = pa.schema([ROW_SCHEMA.field("id"), ROW_SCHEMA.field("data")])
_PARSE_OPTIONS = pajson.ParseOptions(explicit_schema=_JSON_SCHEMA,
                                     unexpected_field_behavior="ignore")


# What the reader rejects a line for, and what it repairs (declared here, where they are made).
READ_REASONS = {
    "blank_line": "the line is empty or only white space",
    "invalid_utf8": "the line's bytes are not UTF-8",
    "invalid_json": "the line is not valid JSON",
    "truncated_line": "the file's last line ends without a newline and is not valid JSON",
    "json_too_deep": "the JSON nests too deeply to parse",
    "not_an_object": "the line is JSON but not an object",
    "bad_id": "`id` is a list, object or boolean",
    "data_not_list": "`data` is not a list",
    "turn_not_string": "a turn in `data` is not a string (null, a number, a list, ...)",
    "lone_surrogate": "a string holds a lone UTF-16 surrogate escape, which UTF-8 cannot encode",
}
READ_REPAIRS = {"id_number_to_string": "a numeric `id` was turned into its decimal string"}

DEFAULT_BLOCK_BYTES = 8 << 20
MAX_EXPANSION = 100  # release JSON gzips about 4x; far beyond that is a bomb, not text
_PYARROW_BLOCK_BYTES = 1 << 20
_LEAF_LINES = 16  # below this many lines a failing segment is parsed line by line
_SURROGATE = re.compile("[\ud800-\udfff]")
# An `id` key (a quote inside a JSON string is escaped, so an unescaped one starts a key) and
# its string or number: read from lines that are not valid JSON, so their rejects name it.
_ID_IN_RAW = re.compile(r'(?<!\\)"id"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))')


@dataclass
class ReadBatch:
    """What one block of lines became: rows, rejects, and how many physical lines it held."""

    rows: pa.Table
    rejects: pa.Table
    lines: int
    repairs: Counter = field(default_factory=Counter)


@dataclass
class LineBlock:
    """Whole lines of one file, not parsed yet: parsing is pure, so it can run on any thread.
    `last` marks the file's last block (`ReleaseCheck` then judges the whole file)."""

    data: memoryview
    first_line: int
    lines: int
    ends_with_newline: bool
    sector: str | None
    source: str
    path: Path
    last: bool = False

    def parse(self) -> ReadBatch:
        batch = _read_block(self.data, self.first_line, self.ends_with_newline, self.sector,
                            self.source)
        assert batch.lines == self.lines  # the same newlines counted twice
        return batch


def read_file(path: str | Path, *, sector: str | None = None, source: str | None = None,
              block_bytes: int | None = None,
              on_progress: Callable[[int], None] | None = None) -> Iterator[ReadBatch]:
    """Yield one `ReadBatch` per block of whole lines of `path`.

    `source` names the file in rows and rejects (default: the file name); `on_progress` is called
    with the number of bytes of the file (compressed, as stored) consumed since the last call.
    """
    check = ReleaseCheck()
    for block in line_blocks(path, sector=sector, source=source, block_bytes=block_bytes,
                             on_progress=on_progress):
        batch = block.parse()
        check.add(block, batch)
        yield batch


def line_blocks(path: str | Path, *, sector: str | None = None, source: str | None = None,
                block_bytes: int | None = None,
                on_progress: Callable[[int], None] | None = None) -> Iterator[LineBlock]:
    """The blocks of whole lines of `path`, unparsed, numbered by line (see `read_file`)."""
    path = Path(path)
    source = source or path.name
    block_bytes = block_bytes or DEFAULT_BLOCK_BYTES
    check_file_shape(path)
    stream = open_release_file(path)
    raw_file = getattr(stream, "fileobj", stream)
    position = 0
    first_line = 1
    decompressed = 0

    def guard(count: int) -> None:
        nonlocal decompressed
        decompressed += count
        if decompressed > MAX_EXPANSION * max(raw_file.tell(), 1) + block_bytes:
            raise DataFileError(f"{path}: gzip data expands more than {MAX_EXPANSION}x, which no "
                                "release file does (a damaged or hostile file); not reading on")

    waiting = None  # one block held back, so that the last one can say it is
    try:
        for data, lines, ends_with_newline in _line_blocks(stream, block_bytes, guard):
            block = LineBlock(data, first_line, lines, ends_with_newline, sector, source, path)
            first_line += lines
            if on_progress is not None:
                now = raw_file.tell()
                on_progress(now - position)
                position = now
            if waiting is not None:
                yield waiting
            waiting = block
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataFileError(f"{path}: cannot read past line {first_line - 1}: {error}. "
                            "The file is damaged or incomplete; download it again") from error
    finally:
        stream.close()
    if waiting is not None:
        waiting.last = True
        yield waiting


@dataclass
class ReleaseCheck:
    """Tells a file of defective lines from a file that is not a release file at all, once all
    its blocks are read in order: not one line a dialogue (blank lines aside) is the latter."""

    rows: int = 0
    lines: int = 0
    blank: int = 0

    def add(self, block: LineBlock, batch: ReadBatch) -> None:
        self.rows += batch.rows.num_rows
        self.lines += batch.lines
        self.blank += _count_reason(batch.rejects, "blank_line")
        if block.last:
            if self.rows == 0 and self.lines > self.blank:
                raise DataFileError(
                    f"{block.path}: none of its {self.lines - self.blank} lines is a JSON object "
                    "with `id` and `data`: this is not a release file (UltraChat JSON Lines); "
                    "check what it holds, or download it again")
            self.rows = self.lines = self.blank = 0


def _count_reason(rejects: pa.Table, reason: str) -> int:
    if rejects.num_rows == 0:
        return 0
    return pc.sum(pc.equal(rejects.column("reason"), reason)).as_py() or 0


def _line_blocks(stream: BinaryIO, block_bytes: int,
                 guard: Callable[[int], None]) -> Iterator[tuple[memoryview, int, bool]]:
    """Blocks of whole lines without their final newline, with their line count; a BOM at the
    start is dropped.

    The flag says whether the block's last line ended with a newline (only the file's very last
    line may not). Bytes are read straight into the block's buffer after the carried start of a
    line, so nothing is copied twice; a line longer than a block is gathered piece by piece.
    `guard` sees the byte count of every read, and may stop the reading by raising.
    """
    carry = b""  # the start of a line, moved to the front of the next buffer
    long_line: list[bytes] = []  # a line longer than a block, piece by piece
    start = None
    while True:
        # Not zeroed (a bytearray is, holding the GIL while its fresh pages fault in: ~0.8 s of
        # a 200k run that every other thread waited for); the read fills it without the GIL.
        buffer = np.empty(len(carry) + block_bytes, np.uint8)
        view = memoryview(buffer)
        view[:len(carry)] = carry
        got = stream.readinto(view[len(carry):])
        if not got:
            break
        guard(got)
        end = len(carry) + got
        if start is None:
            start = len(UTF8_BOM) if view[:min(len(UTF8_BOM), end)] == UTF8_BOM else 0
        cut = _last_newline(buffer, start, end)
        if cut < 0:
            long_line.append(view[start:end].tobytes())
            carry, start = b"", 0
            continue
        if long_line:
            joined = b"".join([*long_line, view[start:cut].tobytes()])
            yield memoryview(joined), _lines_in(joined), True
            long_line = []
        else:
            block = view[start:cut]
            yield block, _lines_in(block), True
        carry, start = view[cut + 1:end].tobytes(), 0
    tail = b"".join([*long_line, carry])
    if tail:
        yield memoryview(tail), _lines_in(tail), False


def _last_newline(buffer: np.ndarray, start: int, end: int) -> int:
    """The position of the last newline in buffer[start:end], or -1: looked for in the last
    64 KB first, then in wider windows (a line longer than that is rare)."""
    window = 1 << 16
    while True:
        low = max(start, end - window)
        found = np.flatnonzero(buffer[low:end] == 10)
        if len(found):
            return low + int(found[-1])
        if low == start:
            return -1
        window *= 16


def _lines_in(block) -> int:
    """Lines in a block that does not end with its last newline (numpy: bytearray.count is a
    byte-at-a-time loop, ~5x slower)."""
    return int(np.count_nonzero(np.frombuffer(block, np.uint8) == 10)) + 1


def is_valid_utf8(data) -> bool:
    """Whether bytes are valid UTF-8 as Python's strict decoder judges (no surrogates, no overlong
    forms; a property test holds the two equal). Arrow's validator checks without building a str
    and without the GIL: the decoder held it ~1 s per 700 MB of non-ASCII text."""
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _read_block(block: memoryview, first_line: int, ends_with_newline: bool,
                sector: str | None, source: str) -> ReadBatch:
    bytes_view = np.frombuffer(block, np.uint8)
    newlines = np.flatnonzero(bytes_view == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(block)]))
    blank = _blank_lines(block, bytes_view, starts, ends)
    reader = _BlockReader(block, starts, ends, blank, first_line, sector, source,
                          truncated_last=not ends_with_newline)
    reader.parse(0, len(starts))
    return reader.finish()


def _blank_lines(block: memoryview, bytes_view: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray) -> np.ndarray:
    """Lines that are empty or only white space (pyarrow skips them; we count them)."""
    blank = ends == starts
    # Only a line that starts with white space can be all white space: check those in Python.
    nonempty = np.flatnonzero(~blank)
    first_bytes = bytes_view[starts[nonempty]]
    for index in nonempty[np.isin(first_bytes, (9, 13, 32))]:
        blank[index] = not bytes(block[starts[index]:ends[index]]).strip()
    return blank


class _BlockReader:
    """Parses lines [lo, hi) of a block, fast where it can, and collects rows in line order."""

    def __init__(self, block, starts, ends, blank, first_line, sector, source, truncated_last):
        self.block, self.starts, self.ends, self.blank = block, starts, ends, blank
        self.first_line, self.sector, self.source = first_line, sector, source
        self.truncated_last = truncated_last
        self.tables: list[pa.Table] = []
        self.rejects: list[dict] = []
        self.repairs: Counter = Counter()

    def parse(self, lo: int, hi: int) -> None:
        if lo >= hi:
            return
        if hi - lo <= _LEAF_LINES:
            self._parse_lines(lo, hi)
            return
        table = self._parse_fast(lo, hi)
        if table is not None:
            self._append_fast(table, lo, hi)
            return
        middle = (lo + hi) // 2
        self.parse(lo, middle)
        self.parse(middle, hi)

    def _parse_fast(self, lo: int, hi: int) -> pa.Table | None:
        """pyarrow's reader over the whole segment, or None if any line in it needs a closer look."""
        segment = self.block[self.starts[lo]:self.ends[hi - 1]]
        # pyarrow parses its blocks on all cores; a block must hold the segment's longest line.
        longest = int((self.ends[lo:hi] - self.starts[lo:hi]).max())
        options = pajson.ReadOptions(use_threads=True,
                                     block_size=max(_PYARROW_BLOCK_BYTES, longest + 1))
        try:
            # pyarrow keeps invalid UTF-8 as is (even in a key it then ignores): check it all.
            if not is_valid_utf8(segment):
                return None
            table = pajson.read_json(pa.BufferReader(segment), read_options=options,
                                     parse_options=_PARSE_OPTIONS)
        except pa.ArrowInvalid:
            return None
        # Two objects on one line parse as two rows: then the line count does not match.
        if table.num_rows != hi - lo - int(self.blank[lo:hi].sum()):
            return None
        return table

    def _append_fast(self, table: pa.Table, lo: int, hi: int) -> None:
        self._reject_blank(lo, hi)
        lines = np.flatnonzero(~self.blank[lo:hi]) + (lo + self.first_line)
        self.tables.append(self._with_trace(table, lines))

    def _with_trace(self, table: pa.Table, lines: np.ndarray) -> pa.Table:
        count = table.num_rows
        # Columns from buffers: no Python list of a row's worth of strings or line numbers.
        numbers = np.ascontiguousarray(lines, np.int64)
        return pa.Table.from_arrays([
            table.column("id"),
            table.column("data"),
            _repeated(self.sector, count),
            _repeated(self.source, count),
            pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(numbers)]),
        ], schema=ROW_SCHEMA)

    def _reject_blank(self, lo: int, hi: int) -> None:
        for index in np.flatnonzero(self.blank[lo:hi]) + lo:
            self._reject_blank_line(index, self._raw(index))

    def _reject_blank_line(self, index: int, raw: bytes) -> None:
        self._reject(index, "blank_line", "white space only" if raw else "empty", raw)

    def _parse_lines(self, lo: int, hi: int) -> None:
        ids, turns, lines = [], [], []
        for index in range(lo, hi):
            raw = self._raw(index)
            if self.blank[index]:
                self._reject_blank_line(index, raw)
                continue
            parsed = self._parse_line(index, raw)
            if parsed is not None:
                ids.append(parsed[0])
                turns.append(parsed[1])
                lines.append(index + self.first_line)
        if ids:
            table = pa.Table.from_arrays([pa.array(ids, pa.string()),
                                          pa.array(turns, pa.list_(pa.string()))], ["id", "data"])
            self.tables.append(self._with_trace(table, np.asarray(lines)))

    def _parse_line(self, index: int, raw: bytes) -> tuple[str | None, list | None] | None:
        """One line the fast path refused: (id, data), or None after recording the reject."""
        try:
            text = raw.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as error:
            return self._reject(index, "invalid_utf8", str(error), raw)
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            last = index == len(self.starts) - 1 and self.truncated_last
            return self._reject(index, "truncated_line" if last else "invalid_json",
                                f"{error.msg} at column {error.colno}", raw)
        except RecursionError:
            return self._reject(index, "json_too_deep", "deeper than Python's json parser recurses", raw)
        if not isinstance(record, dict):
            return self._reject(index, "not_an_object", type(record).__name__, raw)
        row_id, data = record.get("id"), record.get("data")
        if isinstance(row_id, (bool, list, dict)):
            return self._reject(index, "bad_id", f"id is {type(row_id).__name__}", raw)
        if isinstance(row_id, (int, float)):
            row_id = str(row_id)
            self.repairs["id_number_to_string"] += 1
        if isinstance(row_id, str) and _SURROGATE.search(row_id):
            return self._reject(index, "lone_surrogate", "in id", raw)
        if data is not None and not isinstance(data, list):
            return self._reject(index, "data_not_list", f"data is {type(data).__name__}", raw, row_id)
        if data is not None:
            for position, turn in enumerate(data):
                if not isinstance(turn, str):
                    return self._reject(index, "turn_not_string",
                                        f"turn {position} is {type(turn).__name__}", raw, row_id)
                if _SURROGATE.search(turn):
                    return self._reject(index, "lone_surrogate", f"in turn {position}", raw, row_id)
        return row_id, data

    def _raw(self, index: int) -> bytes:
        return bytes(self.block[self.starts[index]:self.ends[index]])

    def _reject(self, index: int, reason: str, detail: str | None, raw: bytes,
                row_id: str | None = None) -> None:
        """Record line `index` as rejected, its raw text whole. Returns None, so
        `return self._reject(...)` reads well."""
        text = raw.decode("utf-8", "replace").removesuffix("\r")
        self.rejects.append({"source": self.source, "line": int(index) + self.first_line,
                             "id": row_id if row_id is not None else _id_in_raw(text),
                             "stage": "read", "reason": reason, "detail": detail, "raw": text})

    def finish(self) -> ReadBatch:
        # One chunk a column: pyarrow's reader returns one a MB, and every later stage that
        # needs the turns as one array would copy them together again.
        rows = pa.concat_tables(self.tables).combine_chunks() if self.tables else ROW_SCHEMA.empty_table()
        rejects = (rejects_from_records(self.rejects) if self.rejects
                   else REJECT_SCHEMA.empty_table())
        return ReadBatch(rows, rejects, len(self.starts), self.repairs)


def _repeated(value: str | None, count: int) -> pa.StringArray:
    """`value` `count` times (or nulls), built from buffers."""
    if value is None:
        return pa.nulls(count, pa.string())
    encoded = value.encode()
    offsets = np.arange(count + 1, dtype=np.int32) * len(encoded)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(encoded * count))


def _id_in_raw(text: str) -> str | None:
    """The `id` of a line that is not valid JSON, where it can be read (best effort)."""
    match = _ID_IN_RAW.search(text)
    if match is None:
        return None
    if match.group(2) is not None:
        return match.group(2)
    try:
        row_id = json.loads(f'"{match.group(1)}"')
    except ValueError:
        return match.group(1)
    return match.group(1) if _SURROGATE.search(row_id) else row_id
