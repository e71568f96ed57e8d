"""An OpenAI-compatible chat server on 127.0.0.1 for the generation tests and benchmark.

Replies are a function of the request body alone (model, messages, seed), so a run's output
does not depend on timing or order. It misbehaves on purpose:
- by request number (`every`): 429 with Retry-After, 500, a cut connection, a reply slower than
  the client's timeout (the client retries these with the same body, so they change nothing),
  or a 400 that rejects the request itself (`bad_request`);
- by the body's hash (`content_every`): malformed JSON, empty content, a refusal (also in
  typographic and other wordings), a reply cut at the token limit, a reply that starts with its
  role; the library asks again with the next seed, so the outcome is still a function of the
  requests;
- as a whole: a wrong API key (401), a model it does not serve (404), replies without token
  usage, and a connection cut for every request from number `fail_from` on (a server gone down);
- `trickle`: headers at once, then a byte of the body every half second.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_WORD_TEXT = ("river garden signal market theory engine harbor lantern meadow circuit canyon ledger "
              "orbit velvet summit prism archive compass festival glacier atlas beacon timber quartz "
              "voyage mosaic ember thunder orchard cipher falcon harvest island journal kernel lagoon "
              "mirror nectar oasis pillar quiver ribbon saddle tundra umbra vessel willow yonder zenith")
WORDS = _WORD_TEXT.split(" ")
REFUSAL = "I'm sorry, but as an AI language model I cannot help with that."
OTHER_REFUSALS = {"refusal_curly": "I\u2019m sorry, but I can\u2019t help with that.",
                  "unable": "I'm unable to help with that request."}
HANZI = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你"


class _Listener(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops the SYNs of a client opening 64 connections at once, and
    # each dropped one waits a second to try again; serving engines listen with a backlog of
    # hundreds (uvicorn: 2048).
    request_queue_size = 1024


class FakeOpenAI:
    def __init__(self, latency: float = 0.0, every: dict | None = None,
                 content_every: dict | None = None, retry_after: float = 0.2, slow: float = 2.0,
                 api_key: str | None = None, models: set | None = None, usage: bool = True,
                 fail_from: int | None = None):
        self.latency, self.every, self.content_every = latency, every or {}, content_every or {}
        self.retry_after, self.slow = retry_after, slow
        self.api_key, self.models, self.usage, self.fail_from = api_key, models, usage, fail_from
        self.log: list[dict] = []  # every request: time, body digest, what was done
        self._count = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm and
                # the client's delayed ACK add ~40 ms to every reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server._answer(self, body)

        self.httpd = _Listener(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _answer(self, handler, body: bytes) -> None:
        with self._lock:
            self._count += 1
            number = self._count
        digest = hashlib.sha256(body).hexdigest()
        action = next((name for name, k in self.every.items() if number % k == 0), "ok")
        if action == "ok":
            action = next((name for name, k in self.content_every.items()
                           if int(digest[:8], 16) % k == 0), "ok")
        self.log.append({"time": time.monotonic(), "digest": digest, "action": action,
                         "body": body.decode("utf-8", "replace")})
        if handler.path.rstrip("/") != "/v1/chat/completions":
            return self._send(handler, 404, {"error": {"message": "not found"}})
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(handler, 401, {"error": {"message": "Incorrect API key provided"}})
        request = json.loads(body)
        if self.models is not None and request["model"] not in self.models:
            return self._send(handler, 404, {"error": {"message": f"model {request['model']} not found"}})
        if self.fail_from is not None and number >= self.fail_from:
            action = "cut"
        if action == "cut":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
        if action == "rate_limit":
            return self._send(handler, 429, {"error": {"message": "slow down"}},
                              {"Retry-After": str(self.retry_after)})
        if action == "bad_request":  # what a server says of a parameter it does not take
            return self._send(handler, 400, {"error": {"message": "unsupported parameter: seed"}})
        if action == "server_error":
            return self._send(handler, 500, {"error": {"message": "boom"}})
        time.sleep(self.slow if action == "slow" else self.latency)
        content = (REFUSAL if action == "refusal" else "" if action == "empty"
                   else OTHER_REFUSALS.get(action) or reply_for(request, digest))
        if action == "role_prefix":
            content = "Assistant: " + content
        if action == "cut_off":  # the token limit struck mid-word
            content = content[:len(content) // 2].rstrip() + "ma"
        completion = {"id": "chatcmpl-" + digest[:12], "object": "chat.completion", "created": 0,
                      "model": request["model"],
                      "choices": [{"index": 0, "finish_reason": "length" if action == "cut_off" else "stop",
                                   "message": {"role": "assistant", "content": content}}]}
        if self.usage:
            completion["usage"] = {"prompt_tokens": len(body) // 4, "completion_tokens": len(content) // 4,
                                   "total_tokens": len(body) // 4 + len(content) // 4}
        if action == "malformed":
            return self._send_raw(handler, 200, b'{"id": "chatcmpl-x", "choices": [{"mess')
        if action == "trickle":
            return self._trickle(handler, json.dumps(completion).encode())
        return self._send(handler, 200, completion)

    @staticmethod
    def _trickle(handler, data: bytes) -> None:
        """The whole answer, a byte every half second (each byte restarts a read timeout)."""
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.flush()
            for byte in data:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.5)
        except OSError:  # the client gave up
            pass

    def _send(self, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_raw(handler, status, json.dumps(payload).encode(), headers)

    @staticmethod
    def _send_raw(handler, status: int, data: bytes, headers: dict | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timed out) first
            pass


def reply_for(request: dict, digest: str) -> str:
    """A deterministic answer shaped like what the prompt asks for."""
    rng = _Rng(digest)
    messages = request["messages"]
    prompt = messages[-1]["content"]
    chinese = any("Write in Chinese" in m["content"] for m in messages)
    if "one per line" in prompt.lower():
        count = int(re.search(r"(?:Write|List) (\d+)", prompt).group(1))
        return "\n".join(f"{i + 1}. {_sentence(rng, 9, chinese)}?" for i in range(count))
    if prompt.startswith("Rewrite the following writing request"):
        return _sentence(rng, 30, chinese) + "."
    if prompt.startswith("You are playing a person"):
        text = _sentence(rng, 12, chinese) + "?"
        roll = rng.below(10)
        if roll == 0:
            return "Thank you so much!"  # only thanks: the library must ask again
        return ("Thanks for that! " + text) if roll == 1 else text
    return " ".join(_sentence(rng, 18, chinese) + "." for _ in range(4 + rng.below(4)))


def _sentence(rng, words: int, chinese: bool) -> str:
    if chinese:
        return "".join(HANZI[rng.below(len(HANZI))] for _ in range(words * 2))
    glue = ("the", "and", "of", "to", "is", "that", "for", "with", "you", "this")
    picked = [glue[rng.below(len(glue))] if i % 2 else WORDS[rng.below(len(WORDS))] for i in range(words)]
    return " ".join(picked).capitalize()


class _Rng:
    def __init__(self, digest: str):
        self.state = int(digest, 16)

    def below(self, n: int) -> int:
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % 2**256
        return (self.state >> 128) % n
