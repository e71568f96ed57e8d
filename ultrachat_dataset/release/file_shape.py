"""What a release file is before its lines are read: gzip or plain, and UTF-8 JSON Lines or a
file in some other shape (UTF-16/32, one JSON array, an HTML page, CR-only line ends, empty).

A file in another shape is refused as one error naming it and the fix, never read as lines that
all become rejects. Downloads use the same checks before a first download's hash is trusted.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import BinaryIO

from ..errors import DataFileError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 64 << 10  # how much of a file `describe_head` looks at
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def describe_head(head: bytes) -> tuple[str, str] | None:
    """(what the file is, how to fix it) when its first bytes cannot start UTF-8 JSON Lines (or
    gzip); None when they can. Whole-file shapes are refused as one error, never read as lines
    that all become rejects."""
    if not head:
        return "empty (0 bytes)", "download it again"
    if head.startswith(GZIP_MAGIC):
        return None
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            return (f"{encoding} text (it starts with a {encoding} byte order mark)",
                    f"convert it to UTF-8, e.g. iconv -f {encoding} -t UTF-8 FILE > FILE.utf8")
    if b"\x00" in head[:4]:
        return ("UTF-16 or UTF-32 text, or binary data (NUL bytes at its start)",
                "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8) or download it again")
    text = head.removeprefix(UTF8_BOM).lstrip(b" \t\r\n")
    first_line = text.split(b"\n", 1)[0].strip()
    if text[:1] == b"<":
        return (f"an HTML or XML page ({_shown(first_line)}), not JSON Lines: an expired share "
                "link or an error page saved under the release name?", "download it again")
    if text[:1] == b"[" and (first_line in (b"[", b"[{") or first_line.endswith(b",")
                             or b"\n" not in text.rstrip(b"\r\n")):
        return ("one JSON array, not JSON Lines (one object a line)",
                "write one object a line, e.g. jq -c '.[]' FILE > FILE.jsonl")
    if b"\n" not in head and b"\r" in head[:-1]:  # (a last \r may be a CRLF cut at the edge)
        return ("a file with CR-only line ends (classic Mac)",
                "convert the line ends, e.g. tr '\\r' '\\n' < FILE > FILE.jsonl")
    return None


def _shown(line: bytes, limit: int = 60) -> str:
    text = line.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read_head(path: str | Path) -> bytes:
    """A file's first `HEAD_BYTES` (decompressed when it is gzip)."""
    with open_release_file(path) as stream:
        try:
            return stream.read(HEAD_BYTES)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise DataFileError(f"{path}: cannot read its start ({error}); the file is damaged: "
                                "download it again") from error


def shape_problem(path: str | Path) -> tuple[str, str] | None:
    """`describe_head` of a file's first bytes."""
    try:
        return describe_head(read_head(path))
    except DataFileError:
        return "a damaged gzip file", "download it again"


def holds_a_dialogue(head: bytes) -> bool:
    """Whether a whole line among the first bytes is a dialogue object (`data` a list), or no
    line ends there at all. A first download must pass this before its hash is trusted: a JSON
    error body (`{"error": ...}`) is not the release."""
    lines = head.removeprefix(UTF8_BOM).split(b"\n")[:-1]  # the last piece may be cut
    if not lines:
        return True
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("data"), list):
            return True
    return False


def check_file_shape(path: str | Path) -> None:
    """Raise `DataFileError` naming the file, what it is and the fix, if it is not JSON Lines."""
    problem = shape_problem(path)
    if problem is not None:
        raise DataFileError(f"{path} is {problem[0]}; {problem[1].replace('FILE', str(path))}")


def open_release_file(path: str | Path) -> BinaryIO:
    """Open a file for reading, decompressing gzip whatever the file is called."""
    path = Path(path)
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise DataFileError(f"cannot open {path}: {error.strerror}") from error
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw  # type: ignore[return-value]
