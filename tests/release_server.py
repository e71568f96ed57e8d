"""An HTTP server on 127.0.0.1 that serves release files the way the real hosts do, with faults.

- Tsinghua share: `GET /f/<key>/?dl=1` answers 302 to `/seafhttp/files/<token>/<name>`.
- Mirror: `GET /mirror/<name>`.
- Hub: `HEAD|GET /datasets/stingning/ultrachat/resolve/main/<name>` with the headers
  `huggingface_hub` reads (X-Repo-Commit, ETag / X-Linked-Etag = sha256, X-Linked-Size).
All file routes honour `Range: bytes=N-` and `If-Range` (a strong ETag, the sha256 of the file's
bytes). Faults are set per file name in `server.faults`: each is a way real hosts misbehave.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ultrachat_dataset.release.sources import TSINGHUA_FILES


@dataclass
class Fault:
    drop_after: int | None = None  # send this many bytes, then cut the connection...
    drops: int = 1  # ...this many times
    wrong_bytes: bool = False  # serve other bytes than the file (and than its hash)
    status: int | None = None  # answer with this HTTP status instead
    delay: float = 0.0  # wait this long before answering
    # Answer a Range request with 206 but send the body from byte 0, saying so in Content-Range
    # ("content-range") or not ("no-content-range").
    range_from_zero: str | None = None
    body: bytes | None = None  # answer 200 with this body instead (an HTML page, nothing, ...)
    content_type: str = "application/octet-stream"
    trickle: float | None = None  # seconds between single bytes (a host that nearly hangs)
    redirect: str | None = None  # answer 302 to this Location...
    redirects: int | None = None  # ...this many times (None: always)
    no_validator: bool = False  # send no ETag (then nothing can be resumed across runs)


class ReleaseServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.faults: dict[str, Fault] = {}
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.stopping = threading.Event()
        keys = {f.url.split("/f/")[1].split("/")[0]: f.name for f in TSINGHUA_FILES}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.route(head=True)

            def do_GET(self):
                self.route(head=False)

            def route(self, head: bool):
                server.log.append((self.command, self.path, self.headers.get("Range")))
                path = self.path.split("?")[0]
                if path.startswith("/f/"):
                    name = keys.get(path.split("/")[2])
                    if name is None:
                        return self.empty(404)
                    self.send_response(302)
                    self.send_header("Location", f"/seafhttp/files/0123-abcd/{name}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                hub_prefix = "/datasets/stingning/ultrachat/resolve/main/"
                for prefix in ("/seafhttp/files/0123-abcd/", "/mirror/", hub_prefix):
                    if path.startswith(prefix):
                        return self.serve(path[len(prefix):], head, hub=prefix == hub_prefix)
                return self.empty(404)

            def serve(self, name: str, head: bool, hub: bool):
                if name not in server.files:
                    return self.empty(404)
                fault = server.faults.get(name, Fault())
                time.sleep(fault.delay)
                if fault.status:
                    return self.empty(fault.status)
                if fault.redirect and (fault.redirects is None or fault.redirects > 0):
                    if fault.redirects is not None:
                        fault.redirects -= 1
                    self.send_response(302)
                    self.send_header("Location", fault.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                body = server.files[name] if fault.body is None else fault.body
                sha = hashlib.sha256(body).hexdigest()
                if fault.wrong_bytes:
                    body = bytes(reversed(body))
                start = 0
                ranged = self.headers.get("Range")
                validator = self.headers.get("If-Range")
                if ranged and ranged.startswith("bytes=") and validator in (None, f'"{sha}"'):
                    start = int(ranged[6:].split("-")[0])
                    if start >= len(body):
                        return self.empty(416)
                self.send_response(206 if start else 200)
                if start:
                    first = 0 if fault.range_from_zero else start
                    if fault.range_from_zero != "no-content-range":
                        self.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
                    start = first
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", fault.content_type)
                if not fault.no_validator:
                    self.send_header("ETag", f'"{sha}"')
                if hub:
                    self.send_header("X-Repo-Commit", "f" * 40)
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(server.files[name])))
                self.end_headers()
                if head:
                    return None
                payload = body[start:]
                if fault.trickle is not None:
                    for index in range(len(payload)):
                        self.wfile.write(payload[index:index + 1])
                        self.wfile.flush()
                        time.sleep(fault.trickle)
                        if server.stopping.is_set():
                            return None
                    return None
                if fault.drop_after is not None and fault.drops > 0:
                    fault.drops -= 1
                    self.wfile.write(payload[: fault.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                self.wfile.write(payload)
                return None

            def empty(self, status: int):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ReleaseServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
