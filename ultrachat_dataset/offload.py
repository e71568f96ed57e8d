"""Pure-Python work per text (ftfy) on helper processes, so that it uses every core.

The per-row stages run on threads of one interpreter. Arrow, polars and numba release the GIL;
ftfy is Python and holds it, so on text that needs it (mojibake) its calls ran one at a time
while every other thread's Python waited.
`map_texts` sends batches to helper processes, which `helper_processes` provides.

A helper is a fresh interpreter (`python -c`, not `multiprocessing`): spawn and forkserver
re-import the caller's main module in each child, so a user's script without an
`if __name__ == "__main__"` guard would run again there (a second `prepare` writing the same
folder); fork copies a process whose thread pools may hold locks. The helper imports only this
module and the function's own, and speaks pickles over its stdin and stdout.

Until a batch is worth starting them, and outside `helper_processes`, batches run on the
calling thread. If a helper dies, its batch runs on the calling thread and no later batch is
sent: nothing is lost.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# The helpers start at the first batch whose estimated work exceeds this (a helper costs ~0.6 s
# of CPU to start: an interpreter and ftfy); a round trip after that ~0.3 ms.
MIN_SECONDS = 0.005
_SERVE = "from ultrachat_dataset.offload import serve; serve()"
_pool: _Helpers | None = None
_users = 0  # the `helper_processes` blocks open now (two runs at once in one process share a pool)
_users_lock = threading.Lock()


class HelperError(RuntimeError):
    """A helper process stopped or answered something that is not an answer."""


class _Helper:
    """One helper process: requests are pickles on its stdin, answers pickles on its stdout."""

    def __init__(self):
        # The parent's import path, so the helper finds what the parent found (as spawn does).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        try:
            self.process = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, env=env)
        except OSError as error:  # no interpreter to start (an embedded Python, say)
            raise HelperError(f"no helper process could start ({error})") from error

    def send(self, function: Callable, texts: list[str]) -> None:
        try:
            pickle.dump((function, texts), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except OSError as error:  # a broken pipe: the helper is gone
            raise HelperError(f"helper {self.process.pid} stopped: {error}") from error

    def receive(self) -> tuple[bool, object]:
        """(True, the answers) or (False, the error the function raised)."""
        try:
            return pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            raise HelperError(f"helper {self.process.pid} stopped "
                              f"(exit code {self._exit_code()})") from error

    def _exit_code(self) -> int | None:
        try:  # its pipe closes a moment before it can be waited for
            return self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, kill: bool = False) -> None:
        """End of requests: an idle helper returns at once. `kill`: the run is being stopped
        (an error, Ctrl-C), so a batch in progress is not waited for."""
        try:
            if kill:
                self.process.kill()
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class _Helpers:
    """Up to `count` helpers, started when first needed; a batch borrows idle ones."""

    def __init__(self, count: int):
        self.count = count
        self.idle: queue.SimpleQueue[_Helper] = queue.SimpleQueue()
        self.started: list[_Helper] = []
        self.lock = threading.Lock()
        self.broken = False

    def borrow(self, wanted: int) -> list[_Helper]:
        """At least one helper (waiting for one if all are busy), at most `wanted`."""
        taken = []
        while len(taken) < wanted:
            try:
                taken.append(self.idle.get_nowait())
                continue
            except queue.Empty:
                pass
            with self.lock:
                if len(self.started) < self.count:
                    self.started.append(_Helper())
                    taken.append(self.started[-1])
                    continue
            if taken:
                break
            taken.append(self.idle.get())
        return taken

    def give_back(self, helpers: list[_Helper]) -> None:
        for helper in helpers:
            self.idle.put(helper)

    def stop(self, kill: bool = False) -> None:
        with self.lock:
            for helper in self.started:
                helper.stop(kill)
            self.started = []


@contextmanager
def helper_processes(count: int) -> Iterator[None]:
    """Within this block, `map_texts` may use up to `count` helper processes. They start at
    the first batch sent (a run that never needs them never starts them) and stop when the last
    block open in this process ends (runs on several threads at once share them)."""
    global _pool, _users
    with _users_lock:
        if _pool is None:
            _pool = _Helpers(count)
        _users += 1
    try:
        yield
    except BaseException:
        _leave(kill=True)
        raise
    _leave(kill=False)


def _leave(kill: bool) -> None:
    global _pool, _users
    with _users_lock:
        _users -= 1
        if _users == 0:
            helpers, _pool = _pool, None
            helpers.stop(kill)


def map_texts(function: Callable[[str], object], texts: list[str],
              seconds_per_char: float) -> list:
    """`[function(text) for text in texts]`, on the helpers once a batch has been worth
    starting them; from then on every batch goes there, so this process never loads what the
    function loads. `function` must be importable by name (a module-level function of a light
    module)."""
    helpers = _pool
    if helpers is None or helpers.broken or not texts or (
            not helpers.started and sum(map(len, texts)) * seconds_per_char < MIN_SECONDS):
        return [function(text) for text in texts]
    try:
        borrowed = helpers.borrow(len(texts))
        chunks = _chunks(texts, len(borrowed))
        helpers.give_back(borrowed[len(chunks):])  # fewer texts than helpers
        for helper, chunk in zip(borrowed, chunks):
            helper.send(function, chunk)
        replies = _replies(helpers, borrowed[:len(chunks)])
    except HelperError as error:
        helpers.broken = True
        log.warning("%s: text repair and language detection go on in this process, more slowly",
                    error)
        return [function(text) for text in texts]
    for ok, answers in replies:
        if not ok:
            raise answers  # the function's own error, as it would be raised here
    return [answer for _, answers in replies for answer in answers]


def _replies(helpers: _Helpers, busy: list[_Helper]) -> list[tuple[bool, object]]:
    """Each helper's reply, in `busy` order. A helper is given back as soon as its own reply is
    in, not when the slowest is: another thread's batch can use it meanwhile."""
    replies: dict[_Helper, tuple[bool, object]] = {}
    with selectors.DefaultSelector() as waiting:
        for helper in busy:
            waiting.register(helper.process.stdout, selectors.EVENT_READ, helper)
        while len(replies) < len(busy):
            for key, _ in waiting.select():
                helper = key.data
                replies[helper] = helper.receive()  # the whole reply: it is written at once
                waiting.unregister(key.fileobj)
                helpers.give_back([helper])
    return [replies[helper] for helper in busy]


def _chunks(texts: list[str], count: int) -> list[list[str]]:
    """`texts` cut in order into up to `count` runs of about equal characters."""
    total = sum(map(len, texts))
    chunks, current, size = [], [], 0
    for text in texts:
        current.append(text)
        size += len(text)
        if size * count >= total * (len(chunks) + 1) and len(chunks) < count - 1:
            chunks.append(current)
            current = []
    return [chunk for chunk in [*chunks, current] if chunk]


def serve() -> None:
    """A helper's loop: answer each request until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library's print must not land among the answers
    while True:
        try:
            function, texts = pickle.load(requests)
        except EOFError:  # the run is over. Exit at once: freeing a library's tables one
            os._exit(0)  # object at a time made the parent wait ~0.25 s a helper at the end
        try:
            reply = (True, [function(text) for text in texts])
        except Exception as error:  # sent back and raised in the parent, as if run there
            reply = (False, error)
        try:
            pickle.dump(reply, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the parent has stopped reading: the run is over
            return
