"""Running the per-row stages on several cores: in child processes (`ProcessStages`, so ftfy and
langdetect, pure Python holding the GIL, use every core) or on threads (`ThreadStages`, for small
inputs, where starting processes costs more than it saves).

Children are plain `python -c` processes talking pickle frames
over their stdin/stdout, not `multiprocessing`: its `spawn` and `forkserver` methods re-run the
user's main script in every child (a script with no `if __name__ == "__main__":` guard would
start the pipeline again), and `fork` may deadlock a child of a process whose polars or pyarrow
thread pools hold a lock. Blocks go to the children in turn and come back in the order sent, so
the output does not depend on the number of children.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import UltraChatError

_LENGTH = struct.Struct("<Q")


def _send(stream: BinaryIO, message: Any) -> None:
    payload = pickle.dumps(message, protocol=5)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    return pickle.loads(stream.read(_LENGTH.unpack(header)[0]))


class ProcessStages:
    """`count` child processes running `function(item, *arguments)` on the items submitted."""

    def __init__(self, count: int, function, arguments: tuple):
        self._children = []
        self._results: list[queue.Queue] = []
        self._sent = 0
        self._taken = 0
        # The package's folder is appended to the child's path (after everything else, so it
        # shadows nothing): it imports this package even when it is not installed.
        package_parent = str(Path(__file__).resolve().parents[2])
        command = (f"import sys; sys.path.append({package_parent!r}); "
                   f"from {__name__} import _serve_stdio; _serve_stdio()")
        for _ in range(count):
            child = subprocess.Popen([sys.executable, "-c", command],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            _send(child.stdin, (function, arguments))
            results: queue.Queue = queue.Queue()
            # A thread per child drains its results, so a child never blocks writing while this
            # process blocks sending it the next item (which would deadlock on full pipes).
            threading.Thread(target=self._drain, args=(child, results), daemon=True).start()
            self._children.append(child)
            self._results.append(results)

    @staticmethod
    def _drain(child: subprocess.Popen, results: queue.Queue) -> None:
        while True:
            try:
                results.put(_receive(child.stdout))
            except (EOFError, OSError, pickle.UnpicklingError):
                results.put(("died", None))
                return

    def submit(self, item) -> None:
        child = self._children[self._sent % len(self._children)]
        with contextlib.suppress(OSError):  # the child died: `take` reports it with its exit code
            _send(child.stdin, item)
        self._sent += 1

    def take(self):
        """The result of the oldest item not yet taken (blocks until it is ready)."""
        index = self._taken % len(self._children)
        status, value = self._results[index].get()
        self._taken += 1
        if status == "ok":
            return value
        if status == "error":
            raise UltraChatError(f"a pipeline worker process failed:\n{value}")
        code = self._children[index].wait()
        raise UltraChatError(f"a pipeline worker process died (exit code {code}); its error, if "
                             "any, is above. `--threads` (processes=False) runs the stages in "
                             "this process instead.")

    @property
    def pending(self) -> int:
        return self._sent - self._taken

    def close(self) -> None:
        for child in self._children:
            with contextlib.suppress(OSError):
                child.stdin.close()
        for child in self._children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()

    def __enter__(self) -> ProcessStages:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            for child in self._children:
                child.kill()
        self.close()


def _serve(inputs: BinaryIO, outputs: BinaryIO) -> None:
    function, arguments = _receive(inputs)
    while True:
        try:
            item = _receive(inputs)
        except EOFError:
            return
        try:
            reply = ("ok", function(item, *arguments))
        except Exception:  # sent back whole: the parent raises it with this traceback
            reply = ("error", traceback.format_exc())
        _send(outputs, reply)


def _serve_stdio() -> None:
    # Frames go to a copy of stdout; stdout itself now points at stderr, so a stray print in
    # a stage shows up for the user instead of corrupting a frame.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Ctrl-C reaches the whole process group: the parent reports it, the children leave quietly.
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin.buffer, frames)


class ThreadStages:
    """The same interface on a thread pool in this process."""

    def __init__(self, count: int, function, arguments: tuple):
        self._pool = ThreadPoolExecutor(max_workers=count)
        self._function, self._arguments = function, arguments
        self._futures: deque[Future] = deque()

    def submit(self, item) -> None:
        self._futures.append(self._pool.submit(self._function, item, *self._arguments))

    def take(self):
        return self._futures.popleft().result()

    @property
    def pending(self) -> int:
        return len(self._futures)

    def __enter__(self) -> ThreadStages:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)
