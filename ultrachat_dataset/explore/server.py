"""A read-only web page over a prepared folder, served on 127.0.0.1.

The server maps no URL to a file: it serves its own page (three files of this package) and
answers JSON questions (`/api/...`) from an `Explorer`, so nothing outside the page and OUT's
answers can be fetched whatever the path asked. Only GET; a request naming another host than the
one served is refused (a page elsewhere cannot reach it by DNS rebinding). The page shows every
text of the data with `textContent`, never as markup, and the Content-Security-Policy allows
no script but the page's own: a `<script>` or `<img onerror>` in a turn stays text.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError
from .query import Explorer, RowQuery

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8765
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/app.css": ("app.css", "text/css; charset=utf-8")}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_NUMBERS = ("line", "page", "page_size", "min_exchanges", "max_exchanges", "min_chars", "max_chars")


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, explorer: Explorer, host: str = LOOPBACK, port: int = DEFAULT_PORT):
        self.explorer = explorer
        super().__init__((host, port), _Handler)
        served = self.server_address[1]
        self.allowed_hosts = {f"{name}:{served}" for name in (host, LOOPBACK, "localhost")}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def serve(out_dir: str | Path, host: str = LOOPBACK, port: int = DEFAULT_PORT) -> None:
    """Serve the page until Ctrl-C."""
    explorer = Explorer(out_dir)
    try:
        server = ExplorerServer(explorer, host, port)
    except OSError as error:  # the port is taken (another explorer?), or the address is not ours
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose "
                          "another --port (0 takes a free one)") from error
    if host != LOOPBACK:
        print(f"warning: serving on {host}, not only this machine: anyone who reaches it can "
              "read the dataset", file=sys.stderr)
    print(f"exploring {server.explorer.out} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: the terminal shows the address only
        pass

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.headers.get("Host") not in self.server.allowed_hosts:
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unknown Host header"})
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if url.path in _STATIC:
            name, kind = _STATIC[url.path]
            body = (resources.files("ultrachat_dataset.explore") / "static" / name).read_bytes()
            return self._send(HTTPStatus.OK, body, kind)
        answer = {"/api/overview": self._overview, "/api/rows": self._rows,
                  "/api/dialogue": self._dialogue}.get(url.path)
        if answer is None:
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"nothing at {url.path}"})
        try:
            status, payload = answer({key: values[-1] for key, values in parse_qs(url.query).items()})
        except (ConfigError, ValueError) as error:
            status, payload = HTTPStatus.BAD_REQUEST, {"error": str(error)}
        return self._json(status, payload)

    def do_POST(self) -> None:  # noqa: N802
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read-only: GET only"})

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def _overview(self, _params: dict) -> tuple[HTTPStatus, dict]:
        return HTTPStatus.OK, self.server.explorer.overview()

    def _rows(self, params: dict) -> tuple[HTTPStatus, dict]:
        fields = set(RowQuery.__dataclass_fields__)
        unknown = set(params) - fields - {"q"}
        if unknown:
            raise ConfigError(f"unknown parameter {', '.join(sorted(unknown))}")
        values = {("search" if key == "q" else key): (int(value) if key in _NUMBERS else value)
                  for key, value in params.items() if value != ""}
        return HTTPStatus.OK, self.server.explorer.rows(RowQuery(**values))

    def _dialogue(self, params: dict) -> tuple[HTTPStatus, dict]:
        found = self.server.explorer.dialogue(params.get("source", ""), int(params.get("line", "0")))
        if found is None:
            return HTTPStatus.NOT_FOUND, {"error": "no row with that source and line"}
        return HTTPStatus.OK, found

    def _json(self, status: HTTPStatus, payload: dict) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False, default=str).encode(),
                   "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
