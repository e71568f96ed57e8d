import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from ultrachat_dataset.release.synth import DEFECTS, synthesize

# CI replays the same examples every run (a red CI must mean a change broke something); locally
# every run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# What the library builds once and caches (langdetect's profiles as arrays) goes to a folder of
# the tests' own, not the user's ~/.cache.
os.environ["ULTRACHAT_CACHE"] = str(Path(tempfile.gettempdir()) / "ultrachat-tests-cache")

# What a test needs beyond `uv run pytest`'s environment, and how a user gets it.
HOW_TO_GET = {
    "torch": "torch is no dependency (uv would lock the CUDA build): `uv pip install torch` "
             "(the CPU build: add `--index-url https://download.pytorch.org/whl/cpu`), as .ci/run does",
    "trl": "TRL needs torch: `uv pip install torch trl`, as .ci/run does",
    "chromium": "the browser tests drive Debian's Chromium: `apt-get install chromium`, as .ci/run does",
}


def needs(module: str):
    """Import `module` or skip the test, saying how to get it; CI (.ci/run) has everything and
    fails on any skip (ULTRACHAT_NO_SKIPS)."""
    how = HOW_TO_GET.get(module, "it is in the `full` group: `uv run --group full pytest`")
    return pytest.importorskip(module, reason=f"needs {module}: {how}")


def pytest_sessionfinish(session, exitstatus):
    """Under .ci/run every test must run: a skip there is a test that silently stopped testing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("ULTRACHAT_NO_SKIPS") and skipped:
        reporter.write_line(f"ULTRACHAT_NO_SKIPS: {len(skipped)} test(s) skipped; every test must run here",
                            red=True)
        session.exitstatus = 1


# Defects the reader or validation must reject, with the reason each must carry.
REJECTED_AS = {
    "invalid_json": "invalid_json", "blank_line": "blank_line", "invalid_utf8": "invalid_utf8",
    "lone_surrogate": "lone_surrogate", "json_too_deep": "json_too_deep",
    "not_an_object": "not_an_object", "data_not_list": "data_not_list",
    "turn_not_string": "turn_not_string", "missing_id": "missing_id",
    "empty_turn": "empty_turn", "no_exchange": "no_exchange",
}


def write_lines(path: Path, records: list, newline: str = "\n", final_newline: bool = True) -> Path:
    """Write JSON Lines; a `str` or `bytes` item is written as is (a deliberately bad line)."""
    lines = []
    for record in records:
        if isinstance(record, bytes):
            lines.append(record)
        elif isinstance(record, str):
            lines.append(record.encode("utf-8", "surrogatepass"))
        else:
            lines.append(json.dumps(record).encode())
    body = newline.encode().join(lines) + (newline.encode() if final_newline else b"")
    path.write_bytes(body)
    return path


def file_digests(out: Path) -> dict[str, str]:
    """sha256 of every file under `out`, by relative path: two outputs equal byte for byte,
    but for the seconds each stage took in report.json (the one thing a rerun changes)."""
    return {str(p.relative_to(out)): hashlib.sha256(_without_seconds(p)).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _without_seconds(path: Path) -> bytes:
    if path.name != "report.json":
        return path.read_bytes()
    report = json.loads(path.read_text())
    for stage in report["stages"].values():
        stage["seconds"] = 0
    return json.dumps(report).encode()


@pytest.fixture(scope="session")
def defect_corpus(tmp_path_factory) -> Path:
    """A corpus with every line-level defect at a rate that makes each appear several times."""
    out = tmp_path_factory.mktemp("defects")
    synthesize(out, dialogues=1500, seed=11, length_scale=0.3,
               defect_rates={kind: 0.02 for kind in DEFECTS})
    return out
