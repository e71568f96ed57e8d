"""One URL into a `.part` file over HTTP, as hosts really behave.

- Resumes with `Range` after a drop; a `206` must start at the byte asked for (`Content-Range`),
  else the transfer starts over. A `.part` left by an earlier run is resumed only with `If-Range`
  and the validator (ETag or Last-Modified) of the response that began it, kept beside it in
  `.<name>.part.json`, so a file that changed since is sent whole; a part of unknown origin is
  thrown away.
- Gives up on silence (`timeout`), on a trickle (`min_speed` over `speed_window`: retried) and
  after `total_timeout`; retries other failures with exponential backoff.
- Refuses an HTML page at its first bytes, a redirect to a URL that is not http(s), and a host
  name that does not resolve (`NoNetworkError`, not retried). Every error names the release file.

Verifying what arrived (size, sha256, shape) is the caller's: `download.py`.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Protocol

from tqdm.auto import tqdm

from ..errors import DownloadError, NoNetworkError

_CHUNK = 1 << 20
_PERMANENT_HTTP = {400, 401, 403, 404, 410}  # retrying cannot help


class TransferSettings(Protocol):
    """What a transfer reads of `download.DownloadOptions`."""

    retries: int
    backoff: float
    timeout: float
    min_speed: float
    speed_window: float
    total_timeout: float
    progress: bool


class _Restart(Exception):
    """The bytes sent do not continue the `.part`: start the transfer over from byte 0."""


class _Refused(Exception):
    """The host answered with something that is not the file (retrying the same URL cannot help)."""


def http_fetch(url: str, part: Path, options: TransferSettings, name: str, position: int) -> None:
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
                discard_part(part)
                raise DownloadError(f"{name}: {url}: {error}") from None
            except urllib.error.HTTPError as error:
                if error.code == 416 and have:  # asked for bytes past the end: it is complete
                    return
                target = _redirect_target(error)
                if target is not None and not target.lower().startswith(("https://", "http://")):
                    raise DownloadError(f"{name}: {url}: redirected to {target}, which is not "
                                        "http(s): refused") from None
                if target is not None:  # an http(s) redirect urllib stopped: a loop, or more than 10
                    raise DownloadError(f"{name}: {url}: a redirect loop (the host sent it round in "
                                        f"circles, last to {target}): the link is "
                                        "broken on the host's side; try --mirror or --source hub") from None
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


def _copy(response, out, bar, options: TransferSettings, deadline: float, check_head: bool) -> None:
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


def discard_part(part: Path) -> None:
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


def _redirect_target(error: urllib.error.HTTPError) -> str | None:
    """Where a redirect that urllib did not follow pointed (resolved against the request), or
    None if the error is no redirect."""
    if not 300 <= error.code < 400:
        return None
    location = error.headers.get("Location") or error.headers.get("URI") or ""
    return urllib.parse.urljoin(error.url or "", location)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects only (Python < 3.12 would follow ftp:// too). `newurl` is
    already resolved against the request: a relative Location is followed, as HTTP allows."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith(("https://", "http://")):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)
