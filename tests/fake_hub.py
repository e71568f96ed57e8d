"""A small HTTP server on 127.0.0.1 that answers the Hub API calls `upload_folder` makes:
create a repo, ask upload modes (all "regular": no LFS), and commit. It records what it got."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml


class FakeHub:
    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.repos: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.card_metadata: dict | None = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.requests.append(("POST", self.path, dict(self.headers)))
                if self.path == "/api/repos/create":
                    request = json.loads(body)
                    hub.repos.append(request)
                    name = f"{request.get('organization') or 'user'}/{request['name']}"
                    return self.reply(200, {"url": f"{hub.url}/datasets/{name}", "name": name})
                if self.path == "/api/validate-yaml":  # the README's front matter must parse
                    content = json.loads(body)["content"]
                    try:
                        hub.card_metadata = yaml.safe_load(content.split("---")[1])
                    except (IndexError, yaml.YAMLError) as error:
                        return self.reply(400, {"error": f"invalid YAML: {error}"})
                    return self.reply(200, {"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    paths = [f["path"] for f in json.loads(body)["files"]]
                    return self.reply(200, {"files": [{"path": p, "uploadMode": "regular",
                                                       "shouldIgnore": False} for p in paths]})
                if "/commit/" in self.path:
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            value = item["value"]
                            hub.files[value["path"]] = base64.b64decode(value["content"])
                    repo = self.path.split("/api/datasets/")[1].split("/commit/")[0]
                    return self.reply(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/abc",
                                            "commitOid": "a" * 40})
                return self.reply(404, {"error": f"fake hub: no route for POST {self.path}"})

            def do_GET(self):
                hub.requests.append(("GET", self.path, dict(self.headers)))
                return self.reply(404, {"error": f"fake hub: no route for GET {self.path}"})

            def reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
