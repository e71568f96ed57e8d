"""`prepare` on one corpus with two (or more) checkouts of the library, side by side: did a change
make it slower?

    git worktree add /tmp/before <commit>
    uv run python benchmarks/bench_checkouts.py CORPUS_DIR --rounds 3 /tmp/before .

Each run is a fresh process with the checkout first on `PYTHONPATH`; the checkouts alternate
within each round (a machine's speed drifts between runs), and each round and the medians are
printed (wall seconds, CPU seconds of the process and its helpers, dialogues kept).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

_RUN = ("import sys, tempfile\nfrom ultrachat_dataset.prepare.pipeline import prepare\n"
        "from ultrachat_dataset.release.sources import local_inputs\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        "    print(prepare(local_inputs('all', sys.argv[1]), out, progress=False).totals().kept)\n")


def run(checkout: str, corpus: str) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUN, corpus], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.path.abspath(checkout)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="a folder of release files")
    parser.add_argument("checkouts", nargs="+", help="checkout folders (the first is the baseline)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list] = {checkout: [] for checkout in args.checkouts}
    for number in range(1, args.rounds + 1):
        for checkout in args.checkouts:
            wall, cpu, kept = run(checkout, args.corpus)
            runs[checkout].append((wall, cpu))
            print(f"round {number} {checkout}: {wall:.1f} s wall, {cpu:.1f} CPU-s, {kept} kept", flush=True)
    baseline = statistics.median(wall for wall, _ in runs[args.checkouts[0]])
    for checkout, results in runs.items():
        wall = statistics.median(w for w, _ in results)
        print(f"{checkout}: median {wall:.1f} s wall ({wall / baseline:.2f}x the first), "
              f"{statistics.median(c for _, c in results):.1f} CPU-s")


if __name__ == "__main__":
    main()
