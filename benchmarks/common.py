"""Helpers the benchmark commands share: corpora, child processes, peak memory, tables."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

RELEASE_GLOBS = ("ultrachat_*.json", "ultrachat_*.json.gz", "train_*.jsonl")


def release_paths(directory: Path) -> list[Path]:
    return sorted(p for pattern in RELEASE_GLOBS for p in directory.glob(pattern))


def corpus(directory: Path | None, dialogues: int, seed: int, defects: dict[str, float],
           label: str) -> Path:
    """An existing corpus, or one synthesized once under bench-data/ and reused."""
    if directory is not None:
        return directory  # the user's corpus, used as it is
    from ultrachat_dataset.release.synth import CORPUS_VERSION
    directory = Path("bench-data") / f"{label}-{dialogues}-{seed}-v{CORPUS_VERSION}"
    if not (directory / "manifest.json").exists():  # written last: a half-written corpus is redone
        from ultrachat_dataset.release.synth import synthesize
        print(f"synthesizing {dialogues} dialogues into {directory} ...", flush=True)
        synthesize(directory, dialogues=dialogues, seed=seed, defect_rates=defects)
    return directory


REAL_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "real-sample" / "ultrachat_release_230407.json"


def repeated_sample(sample: Path, dialogues: int) -> Path | None:
    """The real sample repeated to `dialogues` lines under bench-data/, ids made unique (`<id>-<n>`),
    dealt over the four Tsinghua release files so that the `all` config reads it (their sectors
    mean nothing here); None, said on stderr, where the sample is absent. Its repeats are exact
    duplicates, so dedup rejects all but the first copy of each: the stages before dedup still
    see every line."""
    if not sample.is_file():
        print(f"no real sample at {sample} (../shared/real-sample/ beside the checkout): "
              "the real-text corpus is left out", file=sys.stderr)
        return None
    from ultrachat_dataset.release.sources import TSINGHUA_FILES
    directory = Path("bench-data") / f"real-sample-{dialogues}-v2"
    if not (directory / "done").exists():
        rows = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines() if line.strip()]
        directory.mkdir(parents=True, exist_ok=True)
        files = [(directory / release.name).open("w", encoding="utf-8") for release in TSINGHUA_FILES]
        for number in range(dialogues):
            row = rows[number % len(rows)]
            files[number % len(files)].write(json.dumps(
                {"id": f"{row['id']}-{number // len(rows)}", "data": row["data"]}, ensure_ascii=False) + "\n")
        for handle in files:
            handle.close()
        (directory / "done").touch()  # written last: a half-written corpus is redone
    return directory


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage: Linux carries ru_maxrss across exec,
    so a child would report its parent's peak; VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree_rss_mb(pid: int = 0) -> float:
    """Resident memory of a process and all its descendants now (Linux /proc), in MB."""
    base = Path(f"/proc/{pid or 'self'}")
    total = 0.0
    try:
        for line in (base / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in (base / "task").iterdir():
            for child in (task / "children").read_text().split():
                total += _tree_rss_mb(int(child))
    except OSError:  # the process ended meanwhile
        pass
    return total


def timed(function) -> dict:
    """Run `function` in this (child) process: its result, seconds and peak RSS in MB.

    The peak counts worker processes too: the resident memory of the whole process tree is
    sampled every 20 ms, and this process's own high-water mark is the floor."""
    samples = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            samples.append(_tree_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    done.set()
    sampler.join()
    return {"result": result, "seconds": seconds, "cpu_s": cpu, "peak_mb": max(peak_rss_mb(), *samples)}


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have ended (worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_child(script: str, *args: str) -> dict:
    """Run `script --child ARGS` in a fresh interpreter; it prints one JSON line last."""
    completed = subprocess.run([sys.executable, script, "--child", *args],
                               capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.splitlines()[-1])


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """rows of dicts; columns of (key, heading, format)."""
    widths = [max(len(heading), 12) for _, heading, _ in columns]
    print("  ".join(f"{h:>{w}}" for (_, h, _), w in zip(columns, widths)))
    for row in rows:
        print("  ".join(f"{format(row[k], f):>{w}}" for (k, _, f), w in zip(columns, widths)))


def print_side_by_side(results: dict[str, dict], baseline: str, unit: str) -> None:
    """Each method's count, seconds, rate, peak memory and its speed relative to `baseline`."""
    base = results[baseline]["seconds"]
    rows = [{"method": method, **result, "per_s": result["result"] / result["seconds"],
             "ratio": base / result["seconds"]} for method, result in results.items()]
    print_table(rows, [("method", "method", "s"), ("result", unit, "d"),
                       ("seconds", "seconds", ".2f"), ("per_s", f"{unit}/s", ".0f"),
                       ("peak_mb", "peak MB", ".0f"), ("ratio", f"vs {baseline}", ".2f")])
