"""The output folder of `prepare`: built aside, swapped in whole, and never someone else's.

A run builds into a hidden sibling (`.<name>.building-<pid>-<random>`) and swaps it in for the
folder only when everything is written: an interrupt, a kill or an error leaves the previous
dataset as it was, and no half folder under the name anyone loads. On Linux the swap is one
atomic `renameat2(RENAME_EXCHANGE)`; elsewhere two renames, and a run that dies between them is
mended by the next one (the previous folder is put back).

A marker file (`MARKER`) says a folder is ours and what it holds. A non-empty folder without it
is the user's: it is never replaced unless `overwrite`. A folder of another config is replaced
only with `overwrite` too, so `prepare writing` never mixes into, or silently discards, an `all`.
The marker also says which command wrote the folder: `demo` replaces only what `demo` wrote.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UltraChatError

MARKER = ".ultrachat-dataset.json"
_BUILDING, _OLD = "building", "old"


class OutputFolderError(UltraChatError):
    """The output folder cannot be (re)written: it is a file, someone else's, or another config."""


def read_marker(folder: str | Path) -> dict | None:
    """What a prepared folder says of itself, or None if it is not ours."""
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None


OVERWRITE_HINT = "pass --overwrite (Python: overwrite=True) to replace it whole"


def check_replaceable(out: Path, config: str, overwrite: bool = False,
                      written_by: str = "prepare") -> str | None:
    """Raise `OutputFolderError` unless `out` may become a dataset of `config` written by the
    command `written_by`; return what a run would replace there (None: nothing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder: give a folder path")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    marker = read_marker(out)
    if marker is None:
        if overwrite:
            return f"{out} (a folder `ultrachat prepare` did not write)"
        raise OutputFolderError(
            f"{out} is not empty and was not written by `ultrachat prepare` (it has no {MARKER}): "
            f"choose a new or empty folder, or {OVERWRITE_HINT}")
    owner = marker.get("written_by", "prepare")
    what = f"{out} (config {marker.get('config')!r}, {_kept(out)} written by `ultrachat {owner}`)"
    if overwrite:
        return what
    if marker.get("config") != config:
        raise OutputFolderError(
            f"{out} holds config {marker.get('config')!r}; preparing {config!r} there would replace "
            f"it: choose another folder, or {OVERWRITE_HINT}")
    if written_by == "demo" and owner != "demo":
        raise OutputFolderError(
            f"{what} is not the demo's: the demo replaces only its own output; choose another "
            f"--out, or {OVERWRITE_HINT}")
    return what


def _kept(out: Path) -> str:
    try:
        return f"{json.loads((out / 'report.json').read_text())['kept']:,} dialogues"
    except (OSError, ValueError, KeyError, TypeError):
        return "a dataset"


@contextmanager
def building(out: str | Path, marker: dict, overwrite: bool = False) -> Iterator[Path]:
    """A fresh folder to build into; swapped in for `out` when the block ends without error,
    removed when it does not. `marker` (with a `config` and `written_by`) is written into it last."""
    out = Path(out).resolve()  # a link to a folder: build beside the folder it points to
    check_replaceable(out, marker["config"], overwrite, marker.get("written_by", "prepare"))
    staging = _sibling(out, _BUILDING)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _mend(out)
        staging.mkdir()
        yield staging
        (staging / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
        _swap_in(staging, out)
    except OSError as error:  # a full disk, a folder we may not write: the old one is untouched
        raise OutputFolderError(f"prepare stopped ({error.filename or out}: {error.strerror or error}); "
                                f"{out} is as it was before this run") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _swap_in(staging: Path, out: Path) -> None:
    """Put `staging` under the name `out`; whatever `out` was ends under `staging`'s name."""
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        return
    old = _sibling(out, _OLD)
    os.rename(out, old)
    os.rename(staging, out)  # a kill between the renames is mended by `_mend`
    shutil.rmtree(old, ignore_errors=True)


def _mend(out: Path) -> None:
    """Clean up after runs into `out` that died: their build folders go, and a previous folder
    left aside by a swap cut in half is put back."""
    for leftover in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*-*")):
        kind, pid = _parse(leftover.name, out.name)
        if kind is None or _alive(pid):
            continue
        if kind == _OLD and not out.exists():
            os.rename(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _parse(name: str, base: str) -> tuple[str | None, int]:
    kind, _, rest = name.removeprefix(f".{base}.").partition("-")
    pid = rest.split("-")[0]
    if kind not in (_BUILDING, _OLD) or not pid.isdigit():
        return None, 0
    return kind, int(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process starts no two runs into one folder at once
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2`); False where it cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0
