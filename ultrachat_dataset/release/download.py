"""Fetch the release files a config needs, verified, resumable, and never half-written.

Sources: the Tsinghua share links (a redirect to the file), the Hugging Face Hub through
`huggingface_hub` (honouring HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME, HF_TOKEN), a mirror
(`BASE_URL/<release file name>`, also from ULTRACHAT_MIRROR), a local folder, or `auto`
(the files already in the folder, else Tsinghua, then the Hub for `all`).

Integrity: every file is checked for size and sha256 before it gets its name. The Hub reports
the sha256 of its LFS files; for the Tsinghua files, which publish none, the first download is
recorded in `ultrachat.lock.json` (name, size, sha256, source, date) next to the files and
enforced afterwards, like a package lock (trust on first use); known hashes can be supplied. A
mismatch deletes the file and downloads it once more, then fails naming the file and both hashes.

Nothing wrong is locked or renamed into place: a first download must look like the release
(JSON Lines or gzip with a dialogue: not an HTML page, not empty, not a JSON error) before its hash
is recorded. Transfers (`transfer.py`) resume, retry, time out and land in `.<name>.part` until
verified. A DNS failure is not retried, nor another origin tried: it means no network.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import DownloadError, NoNetworkError, SourceError
from ..layout import cache_root, check_config
from ..names import SOURCES  # noqa: F401  (re-exported)
from .file_shape import HEAD_BYTES, holds_a_dialogue, read_head, shape_problem
from .sources import HUB_REPO, InputFile, ReleaseFile, local_inputs, release_files
from .transfer import discard_part, http_fetch

LOCK_NAME = "ultrachat.lock.json"
TSINGHUA_ENDPOINT = "https://cloud.tsinghua.edu.cn"
_CHUNK = 1 << 20


@dataclass
class DownloadOptions:
    source: str = "auto"
    mirror: str | None = field(default_factory=lambda: os.environ.get("ULTRACHAT_MIRROR") or None)
    offline: bool = field(default_factory=lambda: _env_flag("HF_HUB_OFFLINE"))
    known_hashes: dict[str, str] = field(default_factory=dict)  # release name -> sha256
    retries: int = 4
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 60.0  # seconds without a byte before a connection is given up
    min_speed: float = 10_000.0  # bytes a second, averaged over `speed_window`; slower is retried
    speed_window: float = 60.0
    total_timeout: float = 6 * 3600.0  # seconds for one file, every attempt included
    workers: int = 4  # files fetched at once
    progress: bool = True
    # `auto` with the files already there: check them against the lock (`ultrachat download`
    # does; prepare and the builder read them as they are). Offline always checks.
    check_present: bool = False
    tsinghua_endpoint: str = field(
        default_factory=lambda: os.environ.get("ULTRACHAT_TSINGHUA_ENDPOINT", TSINGHUA_ENDPOINT))

    def __post_init__(self):
        if self.source not in SOURCES:
            raise DownloadError(f"unknown source {self.source!r}: choose from {', '.join(SOURCES)}")
        if self.mirror:
            _check_url(self.mirror)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _check_url(url: str) -> str:
    if not url.lower().startswith(("https://", "http://")):
        raise DownloadError(f"refusing {url!r}: only http(s) URLs are fetched")
    return url


@dataclass
class Download:
    files: list[InputFile]
    origin: str  # "tsinghua", "hub", "mirror" or "local": what `auto` settled on
    checks: dict[str, str] = field(default_factory=dict)  # release name -> how it was verified

    def summary(self, dest: str | Path) -> str:
        """The files, their sectors and how each was verified, as lines for a person."""
        size = sum(item.path.stat().st_size for item in self.files)
        width = max(len(item.source) for item in self.files)
        lines = [f"{len(self.files)} files ({size / 1e6:.1f} MB) from {self.origin} in {dest}:"]
        for item in self.files:
            sector = f"({item.sector or 'no sector'})"
            lines.append(f"  {item.source:<{width}}  {sector:<13}  {self.checks.get(item.source, '')}")
        return "\n".join(lines)


NOT_CHECKED = "not checked (local files are read as they are)"


def download(config: str, dest: str | Path, options: DownloadOptions | None = None) -> Download:
    """Make sure `dest` holds the verified release files of `config`; return them."""
    check_config(config)
    options = options or DownloadOptions()
    dest = Path(dest)
    if options.source == "local":
        return _local_download(config, dest)
    if options.source == "auto" and not options.mirror:
        try:  # copies already in the folder win: nothing to fetch
            present = _local_download(config, dest)
        except SourceError:
            present = None
        if present is not None and not (options.offline or options.check_present):
            return present
        if present is not None:  # checked against the lock below, with no request
            options = replace(options, offline=True)
    origins = ["tsinghua", "hub"] if options.source == "auto" else [options.source]
    if options.source == "auto" and config != "all":
        origins = ["tsinghua"]  # the Hub copy has no sectors
    failures = []
    for origin in origins:
        try:
            files, checks = _fetch_all(release_files(config, origin), dest, options)
            return Download(files, "mirror" if options.mirror else origin, checks)
        except NoNetworkError:
            raise  # another host will not resolve either
        except DownloadError as error:
            failures.append((origin, error))
    if len(failures) == 1:  # one origin tried (a mirror is one): its error as it is
        raise failures[0][1]
    label = "mirror, {} file names".format if options.mirror else str
    raise DownloadError("; then ".join(f"{label(origin)}: {error}" for origin, error in failures))


def _local_download(config: str, dest: Path) -> Download:
    files = local_inputs(config, dest)
    return Download(files, "local", {item.source: NOT_CHECKED for item in files})


def _fetch_all(files: tuple[ReleaseFile, ...], dest: Path,
               options: DownloadOptions) -> tuple[list[InputFile], dict[str, str]]:
    dest.mkdir(parents=True, exist_ok=True)
    lock = LockFile(dest / LOCK_NAME)
    if options.offline:
        results = [_verified_offline(release, dest, lock, options) for release in files]
    else:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            results = list(pool.map(lambda item: _fetch_verified(item[1], dest, lock, options, item[0]),
                                    enumerate(files)))
    inputs = [InputFile(path, release.name, release.sector) for (path, _), release in zip(results, files)]
    return inputs, {release.name: check for (_, check), release in zip(results, files)}


def _verified_offline(release: ReleaseFile, dest: Path, lock: LockFile,
                      options: DownloadOptions) -> tuple[Path, str]:
    path = dest / release.name
    if not path.is_file():
        raise DownloadError(f"offline (HF_HUB_OFFLINE or --offline) and {path} is missing: run "
                            f"`ultrachat download` with network access first, or copy the file there")
    expected = options.known_hashes.get(release.name) or lock.sha256(release.name)
    size = lock.size(release.name)
    if expected and _sha256(path) != expected:
        raise DownloadError(f"{path}: sha256 differs from {LOCK_NAME} ({expected}); the file changed "
                            "since it was downloaded: delete it and download it again")
    if expected:
        return path, "sha256 checked"
    if size is not None and path.stat().st_size != size:
        raise DownloadError(f"{path}: {path.stat().st_size} bytes, but {LOCK_NAME} recorded {size}: "
                            "delete it and download it again")
    return path, ("size only (no sha256 known)" if size is not None
                  else "not checked (no hash or size known for it)")


def _fetch_verified(release: ReleaseFile, dest: Path, lock: LockFile, options: DownloadOptions,
                    position: int) -> tuple[Path, str]:
    final = dest / release.name
    url, expected, size, trusted = _plan(release, options, lock)
    checked = (f"sha256 matches the {trusted}" if expected else
               f"size only: matches the {trusted}" if size is not None else
               f"first download: shape checked, sha256 recorded in {LOCK_NAME}")
    if final.is_file() and expected and _sha256(final) == expected:
        return final, checked  # already here and verified
    part = dest / f".{release.name}.part"
    for _ in range(2):  # a mismatch is fetched once more before it is an error
        if release.origin == "hub" and not options.mirror:
            _hub_fetch(release, part, options)
        else:
            http_fetch(url, part, options, release.name, position)
        if expected is None:  # nothing to compare with: at least it must look like the release
            _check_shape(part, release.name, url or f"{HUB_REPO}/{release.name}")
        actual_size, actual = part.stat().st_size, _sha256(part)
        if (expected is None or actual == expected) and (size is None or actual_size == size):
            part.replace(final)
            discard_part(part)
            if not lock.sha256(release.name):
                lock.record(release.name, actual_size, actual, url or f"hub:{HUB_REPO}")
            return final, checked
        discard_part(part)
    raise DownloadError(
        f"{release.name}: downloaded twice from {url or HUB_REPO} and both differ from the "
        f"expected {trusted}: sha256 {expected}, size {size}; got sha256 {actual}, size "
        f"{actual_size}. If the file legitimately changed, delete its entry in {lock.path}")


def _plan(release: ReleaseFile, options: DownloadOptions, lock: LockFile):
    """(url, expected sha256, expected size, where the expectation comes from)."""
    if options.mirror:
        url = _check_url(options.mirror.rstrip("/") + "/" + release.name)
    elif release.origin == "tsinghua":
        url = _check_url(release.url.replace(TSINGHUA_ENDPOINT, options.tsinghua_endpoint.rstrip("/")))
    else:
        url = None
    for expected, size, trusted in (
            (options.known_hashes.get(release.name), None, "hash you supplied"),
            (lock.sha256(release.name), lock.size(release.name), f"hash in {lock.path}"),
            (release.sha256, release.size, "hash in the registry")):
        if expected:
            return url, expected, size, trusted
    if release.origin == "hub" and not options.mirror:
        expected, size = _hub_reported(release)
        return url, expected, size, "Hub's sha256" if expected else "Hub's size (it reports no sha256)"
    return url, None, None, "first download (recorded now)"


def _check_shape(part: Path, name: str, url: str) -> None:
    """Before a file is hashed, locked or named: it must look like a release file."""
    problem = shape_problem(part)
    if problem is None and not holds_a_dialogue(read_head(part)):
        problem = ("JSON with no dialogue (no line with a `data` list) among its first "
                   f"{HEAD_BYTES // 1024} KB", "")
    if problem is not None:
        size = part.stat().st_size
        discard_part(part)
        raise DownloadError(f"{name}: {url}: what came ({size} bytes) is not the release file but "
                            f"{problem[0]}; nothing was saved or locked")


def _hub_reported(release: ReleaseFile) -> tuple[str | None, int | None]:
    """The sha256 (the ETag of an LFS file) and size the Hub reports for a file."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    try:
        meta = get_hf_file_metadata(hf_hub_url(HUB_REPO, release.name, repo_type="dataset"))
    except Exception as error:  # huggingface_hub raises many kinds; all mean "cannot ask"
        raise DownloadError(f"{HUB_REPO}/{release.name}: cannot get its metadata from the Hub "
                            f"({type(error).__name__}: {_first_line(error)}){NO_NETWORK_HINT}") from None
    etag = meta.etag if meta.etag and len(meta.etag) == 64 else None  # git blobs have sha1 etags
    return etag, meta.size


def _hub_fetch(release: ReleaseFile, part: Path, options: DownloadOptions) -> None:
    """`hf_hub_download` (its own resume, retries and progress) into a side folder, then `part`."""
    from huggingface_hub import hf_hub_download
    try:
        fetched = hf_hub_download(HUB_REPO, release.name, repo_type="dataset", force_download=True,
                                  local_dir=part.parent / ".hub-download")
    except Exception as error:  # huggingface_hub raises many kinds; all mean "not fetched"
        raise DownloadError(f"{HUB_REPO}/{release.name}: {type(error).__name__}: {_first_line(error)}"
                            f"{NO_NETWORK_HINT}") from None
    shutil.move(fetched, part)


NO_NETWORK_HINT = ("; no network? With the files already downloaded use --offline (or "
                   "HF_HUB_OFFLINE=1)")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LockFile:
    """`ultrachat.lock.json`: what each file was when first downloaded."""

    def __init__(self, path: Path):
        self.path = path
        self._mutex = threading.Lock()
        try:
            self.entries = json.loads(path.read_text())["files"] if path.exists() else {}
        except (ValueError, KeyError) as error:
            raise DownloadError(f"{path} is not a valid lock file ({error}); fix or delete it") from None

    def sha256(self, name: str) -> str | None:
        return self.entries.get(name, {}).get("sha256")

    def size(self, name: str) -> int | None:
        return self.entries.get(name, {}).get("size")

    def record(self, name: str, size: int, sha256: str, source: str) -> None:
        with self._mutex:
            self.entries[name] = {"size": size, "sha256": sha256, "source": source,
                                  "date": datetime.date.today().isoformat()}
            self.path.write_text(json.dumps({"files": dict(sorted(self.entries.items()))},
                                            indent=2) + "\n")


def default_release_dir() -> Path:
    """Where downloads go when no folder is given: `release` in $ULTRACHAT_CACHE, else in
    ~/.cache/ultrachat."""
    return cache_root() / "release"


def release_inputs(config: str, data_dir: str | Path | None,
                   options: DownloadOptions | None = None) -> list[InputFile]:
    """The input files of a config from any source: downloaded (and verified) unless local."""
    options = options or DownloadOptions()
    if options.source == "local" and data_dir is None:
        raise DownloadError("source 'local' needs a data directory (--data-dir / data_dir) "
                            "holding the release files")
    result = download(config, data_dir or default_release_dir(), options)
    if options.progress and result.origin != "local":
        print(f"release files from {result.origin}: {', '.join(f.source for f in result.files)}")
    return result.files
