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
(JSON Lines or gzip: not an HTML page, not empty) before its hash is recorded; a `206` must start
at the byte asked for (`Content-Range`), else the transfer starts over; a `.part` left by an earlier
run is resumed only with `If-Range` and the validator (ETag or Last-Modified) of the response that
began it, kept in `.<name>.part.json`, so a changed file is sent whole. Transfers resume with HTTP
Range after a dropped connection, retry with exponential backoff, give up on silence (`timeout`),
on a trickle (`min_speed` over `speed_window`) and after `total_timeout`, and land in
`.<name>.part` until verified. A DNS failure is not retried: it means no network.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from .errors import SourceError, UltraChatError
from .pipeline import InputFile, local_inputs
from .read import HEAD_BYTES, holds_a_dialogue, read_head, shape_problem
from .sources import HUB_REPO, ReleaseFile, check_config, release_files

LOCK_NAME = "ultrachat.lock.json"
SOURCES = ("auto", "tsinghua", "hub", "local")
TSINGHUA_ENDPOINT = "https://cloud.tsinghua.edu.cn"
_CHUNK = 1 << 20
_PERMANENT_HTTP = {400, 401, 403, 404, 410}  # retrying cannot help


class DownloadError(UltraChatError):
    """A file could not be fetched or verified; the message names the file or URL and why."""


class NoNetworkError(DownloadError):
    """A host name did not resolve: no network (or no DNS). Not retried, no other origin tried."""


class _Refused(Exception):
    """The host answered with something that is not the file (retrying the same URL cannot help)."""


class _Restart(Exception):
    """The bytes sent do not continue the `.part`: start the transfer over from byte 0."""


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
            return _local_download(config, dest)
        except SourceError:
            pass
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
            failures.append(f"{origin}: {error}")
    raise DownloadError("; then ".join(failures))


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
            _http_fetch(url, part, options, release.name, position)
        if expected is None:  # nothing to compare with: at least it must look like the release
            _check_shape(part, release.name, url or f"{HUB_REPO}/{release.name}")
        actual_size, actual = part.stat().st_size, _sha256(part)
        if (expected is None or actual == expected) and (size is None or actual_size == size):
            part.replace(final)
            _discard(part)
            if not lock.sha256(release.name):
                lock.record(release.name, actual_size, actual, url or f"hub:{HUB_REPO}")
            return final, checked
        _discard(part)
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


def _http_fetch(url: str, part: Path, options: DownloadOptions, name: str, position: int) -> None:
    """GET `url` into `part`, resuming with Range (and If-Range) after a drop; retries with backoff.

    Raises `DownloadError` naming the release file and URL, `NoNetworkError` on a DNS failure.
    """
    deadline = time.monotonic() + options.total_timeout
    validator = _resumable(part, url)
    last_error = None
    with tqdm(desc=name, unit="B", unit_scale=True, position=position, leave=False,
              disable=not options.progress) as bar:
        for attempt in range(options.retries + 1):
            if attempt:
                time.sleep(options.backoff * 2 ** (attempt - 1))
            if time.monotonic() > deadline:
                break
            have = part.stat().st_size if part.exists() else 0
            headers = {"User-Agent": "ultrachat-dataset"}
            if have:
                headers["Range"] = f"bytes={have}-"
                if validator:  # the host sends the whole file instead if it changed since
                    headers["If-Range"] = validator
            try:
                with _OPENER.open(urllib.request.Request(url, headers=headers),
                                  timeout=options.timeout) as response:
                    start = _body_start(response, have)
                    validator = _validator(response.headers)
                    _remember(part, url, validator)
                    length = response.headers.get("Content-Length")
                    bar.reset(total=start + int(length) if length else None)
                    bar.update(start)
                    with open(part, "ab" if start else "wb") as out:
                        _copy(response, out, bar, options, deadline, check_head=not start)
                    if length is None or part.stat().st_size == start + int(length):
                        return
                    last_error = f"connection closed after {part.stat().st_size} bytes"
            except _Restart as error:
                part.unlink(missing_ok=True)
                last_error = str(error)
            except _Refused as error:
                _discard(part)
                raise DownloadError(f"{name}: {url}: {error}") from None
            except urllib.error.HTTPError as error:
                if error.code == 416 and have:  # asked for bytes past the end: it is complete
                    return
                if 300 <= error.code < 400:  # a redirect urllib would not follow (not http(s))
                    raise DownloadError(f"{name}: {url}: redirected to {error.headers.get('Location')}, "
                                        "which is not http(s): refused") from None
                where = f" at {error.url}" if error.url and error.url != url else ""
                if error.code in _PERMANENT_HTTP:
                    raise DownloadError(f"{name}: {url}: HTTP {error.code} {error.reason}{where}") from None
                last_error = f"HTTP {error.code} {error.reason}{where}"
            except urllib.error.URLError as error:
                if isinstance(error.reason, socket.gaierror):
                    host = urllib.parse.urlsplit(url).hostname
                    raise NoNetworkError(
                        f"{name}: {url}: cannot resolve {host} ({error.reason.strerror}): no network? "
                        "With the files already downloaded use --offline (or HF_HUB_OFFLINE=1), or "
                        "--source local --data-dir DIR") from None
                last_error = error.reason or type(error).__name__
            except (TimeoutError, ConnectionError, HTTPException) as error:
                last_error = error or type(error).__name__
    if time.monotonic() > deadline:
        raise DownloadError(f"{name}: {url}: not complete after {options.total_timeout:.0f} s "
                            f"(total_timeout); last: {last_error}")
    raise DownloadError(f"{name}: {url}: gave up after {options.retries + 1} attempts ({last_error})")


def _body_start(response, have: int) -> int:
    """Where the body starts in the file: `have` for a 206 that continues the part, 0 for a whole
    file. A 206 that starts elsewhere is not appended (`_Restart`)."""
    if response.status != 206:
        return 0  # the whole file: a host that ignores Range, or If-Range saw a changed file
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range") or "")
    first = int(match.group(1)) if match else None
    if first == have or first == 0:
        return first
    raise _Restart(f"the host answered a Range request for byte {have} with 206 starting at "
                   f"{'an unstated byte' if first is None else f'byte {first}'}")


def _copy(response, out, bar, options: DownloadOptions, deadline: float, check_head: bool) -> None:
    """The body into `out`; a trickle or the deadline raise `TimeoutError` (retried while time is
    left). An HTML page is refused at its first bytes."""
    window_start, window_bytes = time.monotonic(), 0
    while chunk := response.read1(_CHUNK):  # read1: what has come, so a trickle is seen
        if check_head and chunk.lstrip()[:1] == b"<":
            content_type = response.headers.get("Content-Type", "no Content-Type")
            raise _Refused(f"the host sent an HTML or XML page ({content_type}), not the file: an "
                           "expired or wrong link?")
        check_head = False
        out.write(chunk)
        bar.update(len(chunk))
        window_bytes += len(chunk)
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError("total_timeout reached")
        if now - window_start >= options.speed_window:
            if window_bytes < options.min_speed * (now - window_start):
                raise TimeoutError(f"{window_bytes / (now - window_start):.0f} bytes/s over "
                                   f"{now - window_start:.0f} s, under min_speed {options.min_speed:.0f}")
            window_start, window_bytes = now, 0


def _check_shape(part: Path, name: str, url: str) -> None:
    """Before a file is hashed, locked or named: it must look like a release file."""
    problem = shape_problem(part)
    if problem is None and not holds_a_dialogue(read_head(part)):
        problem = ("JSON with no dialogue (no line with a `data` list) among its first "
                   f"{HEAD_BYTES // 1024} KB", "")
    if problem is not None:
        size = part.stat().st_size
        _discard(part)
        raise DownloadError(f"{name}: {url}: what came ({size} bytes) is not the release file but "
                            f"{problem[0]}; nothing was saved or locked")


# A `.part` is resumed only with the validator of the response that began it (`If-Range`).
def _state_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _validator(headers) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range takes strong validators only
        return etag
    return headers.get("Last-Modified")


def _remember(part: Path, url: str, validator: str | None) -> None:
    _state_path(part).write_text(json.dumps({"url": url, "validator": validator}))


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _state_path(part).unlink(missing_ok=True)


def _resumable(part: Path, url: str) -> str | None:
    """The validator to resume `part` with; a part of unknown origin is thrown away."""
    try:
        state = json.loads(_state_path(part).read_text())
    except (OSError, ValueError):
        state = {}
    if part.exists() and (state.get("url") != url or not state.get("validator")):
        part.unlink()
    return state.get("validator") if part.exists() else None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects only (Python < 3.12 would follow ftp:// too)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith(("https://", "http://")):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _hub_reported(release: ReleaseFile) -> tuple[str | None, int | None]:
    """The sha256 (the ETag of an LFS file) and size the Hub reports for a file."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    try:
        meta = get_hf_file_metadata(hf_hub_url(HUB_REPO, release.name, repo_type="dataset"))
    except Exception as error:  # huggingface_hub raises many kinds; all mean "cannot ask"
        raise DownloadError(f"{HUB_REPO}/{release.name}: cannot get its metadata from the Hub "
                            f"({type(error).__name__}: {error})") from None
    etag = meta.etag if meta.etag and len(meta.etag) == 64 else None  # git blobs have sha1 etags
    return etag, meta.size


def _hub_fetch(release: ReleaseFile, part: Path, options: DownloadOptions) -> None:
    """`hf_hub_download` (its own resume, retries and progress) into a side folder, then `part`."""
    from huggingface_hub import hf_hub_download
    try:
        fetched = hf_hub_download(HUB_REPO, release.name, repo_type="dataset", force_download=True,
                                  local_dir=part.parent / ".hub-download")
    except Exception as error:  # huggingface_hub raises many kinds; all mean "not fetched"
        raise DownloadError(f"{HUB_REPO}/{release.name}: {type(error).__name__}: {error}") from None
    shutil.move(fetched, part)


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
    """Where downloads go when no folder is given: $ULTRACHAT_CACHE, else ~/.cache/ultrachat."""
    base = os.environ.get("ULTRACHAT_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ultrachat"
    return Path(base) / "release"


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
