"""Generation throughput against an OpenAI-compatible server with a set latency per request.

    uv run python benchmarks/bench_generate.py [--dialogues 1024] [--latency 0.2] [--concurrency 1,16,64]

Starts the tests' scripted server on 127.0.0.1 in its own process (no misbehaviour, `--latency`
seconds a reply),
generates `writing` dialogues at concurrency 1, 16 and 64, and prints dialogues/s against the
ideal, latency-bound rate: with C requests in flight and R requests a dialogue on average (the
opener requests included), C / (R * latency) dialogues a second (target: >= 0.9 of it at 64).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import print_table

from ultrachat_dataset.generate import GenerateOptions, generate

TESTS = Path(__file__).resolve().parent.parent / "tests"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The scripted server in a process of its own, so that its work does not share this
    process's GIL with the client being measured."""
    code = (f"import sys, time; sys.path.insert(0, {str(TESTS)!r}); from openai_server import FakeOpenAI; "
            f"server = FakeOpenAI(latency={latency}); print(server.url, flush=True); time.sleep(10**6)")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    args = parser.parse_args()
    server, url = start_server(args.latency)
    rows = []
    try:
        for concurrency in (int(level) for level in args.concurrency.split(",")):
            # At concurrency 1, fewer dialogues: the rate is the same and the wait is not.
            count = max(8, args.dialogues // 16) if concurrency == 1 else args.dialogues
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                summary = generate(GenerateOptions("writing", url, "bench", Path(out),
                                                   dialogues=count, concurrency=concurrency),
                                   progress=False)
                seconds = time.perf_counter() - start
            requests = summary["this_run"]["requests"]
            ideal = min(concurrency, count) / (requests / count * args.latency)
            rows.append({"concurrency": concurrency, "dialogues": summary["dialogues"],
                         "requests": requests, "seconds": seconds,
                         "per_s": summary["dialogues"] / seconds, "ideal": ideal,
                         "ratio": summary["dialogues"] / seconds / ideal})
    finally:
        server.kill()
    print(f"writing dialogues against a server answering in {args.latency} s a request")
    print_table(rows, [("concurrency", "concurrency", "d"), ("dialogues", "dialogues", "d"),
                       ("requests", "requests", "d"), ("seconds", "seconds", ".1f"),
                       ("per_s", "dialogues/s", ".2f"), ("ideal", "ideal/s", ".2f"),
                       ("ratio", "ratio", ".2f")])
    print("target: ratio >= 0.9 at concurrency 64")


if __name__ == "__main__":
    main()
