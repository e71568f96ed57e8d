"""A read-only web page over a prepared folder, served on 127.0.0.1.

The server maps no URL to a file: it serves its own page (three files of this package) and
answers JSON questions (`/api/...`) from an `Explorer`, so nothing outside the page and OUT's
answers can be fetched whatever the path asked. Only GET; a request naming another host than the
one served (in its one Host header, or an absolute-form target) is refused (a page elsewhere
cannot reach it by DNS rebinding). The page shows every text of the data with `textContent`,
never as markup, and the Content-Security-Policy allows no script but the page's own: a
`<script>` or `<img onerror>` in a turn stays text.

Every request gets an HTTP answer: a failure is a JSON error with its status (400 for a bad
question, 409 when the folder changed while served, 500 otherwise, with one line on the
terminal), never a dropped connection. A request with a body is answered and its connection
closed (the body is never read as a next request); an idle connection is closed after
`IDLE_SECONDS`; a client that left is no error.
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
from .query import Explorer, RowQuery, _first_line

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
MOST_NUMBER = 10**12  # larger numbers in a question are refused (a page of 10^30 is no page)
IDLE_SECONDS = 30
_CLIENT_LEFT = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


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

    def handle_error(self, request, client_address) -> None:
        """One line, and none for a client that left (socketserver prints a traceback)."""
        error = sys.exc_info()[1]
        if not isinstance(error, _CLIENT_LEFT):
            print(f"explore: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)


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
    for warning in explorer.overview()["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
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
    timeout = IDLE_SECONDS  # a connection idle (or half-sent) that long is closed

    def log_message(self, *args) -> None:  # quiet: the terminal shows the address only
        pass

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body is never read: nothing of it can pass for a request
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0] not in self.server.allowed_hosts or not self.path.startswith("/"):
            self.close_connection = True
            return self._json(HTTPStatus.FORBIDDEN, {"error": "one Host header naming this server, "
                                                              "and a path, are required"})
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
        except Exception as error:  # any other failure is still an answer
            status, payload = self._failure(error)
        return self._json(status, payload)

    def _failure(self, error: Exception) -> tuple[HTTPStatus, dict]:
        changed = self.server.explorer.changed_files()
        if changed:
            named = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
            return HTTPStatus.CONFLICT, {"error": f"the folder changed while it was served ({named}): "
                                                  "restart `ultrachat explore`"}
        said = f"{type(error).__name__}: {_first_line(error)}"
        print(f"explore: {self.path[:200]}: {said}", file=sys.stderr)
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"the explorer failed on this question ({said})"}

    def do_POST(self) -> None:  # noqa: N802
        self.close_connection = True  # its body is not read: it must not pass for a next request
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read-only: GET only"})

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def _overview(self, _params: dict) -> tuple[HTTPStatus, dict]:
        return HTTPStatus.OK, self.server.explorer.overview()

    def _rows(self, params: dict) -> tuple[HTTPStatus, dict]:
        fields = set(RowQuery.__dataclass_fields__)
        unknown = set(params) - fields - {"q"}
        if unknown:
            raise ConfigError(f"unknown parameter {', '.join(sorted(unknown))}")
        values = {("search" if key == "q" else key): (_number(key, value) if key in _NUMBERS else value)
                  for key, value in params.items() if value != ""}
        return HTTPStatus.OK, self.server.explorer.rows(RowQuery(**values))

    def _dialogue(self, params: dict) -> tuple[HTTPStatus, dict]:
        line = _number("line", params.get("line", "0"))
        found = self.server.explorer.dialogue(params.get("source", ""), line)
        if found is None:
            return HTTPStatus.NOT_FOUND, {"error": "no row with that source and line"}
        return HTTPStatus.OK, found

    def _json(self, status: HTTPStatus, payload: dict) -> None:
        # ASCII JSON: a lone surrogate of a rejected line is sent as its \u escape, which UTF-8
        # could not encode.
        self._send(status, json.dumps(payload, ensure_ascii=True, default=str).encode(),
                   "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in _SECURITY_HEADERS.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except _CLIENT_LEFT:
            self.close_connection = True


def _number(name: str, text: str) -> int:
    value = int(text)
    if not 0 <= value <= MOST_NUMBER:
        raise ValueError(f"{name} {text}: give a whole number from 0 to {MOST_NUMBER:,}")
    return value
