"""The output folder is swapped in whole or not at all, and never someone else's.

Interrupts are real: `ultrachat prepare` runs as a subprocess and is killed (SIGKILL: no cleanup
runs) while the shards are being written or while the card is, into a fresh folder and over an
existing dataset.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from ultrachat_dataset.dataset.folder import MARKER, OutputFolderError
from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import synthesize


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Large enough that writing the rows takes a few seconds on one thread."""
    folder = tmp_path_factory.mktemp("corpus")
    synthesize(folder, dialogues=4000, seed=2, length_scale=0.5)
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    synthesize(folder, dialogues=200, seed=4, length_scale=0.2)
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the sha256 of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def ultrachat(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ultrachat_dataset.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def in_step(staging: Path, step: str) -> bool:
    """"rows": shards being written; "card": the report written, the card not yet."""
    if step == "rows":
        return (staging / "data").exists() and not (staging / "report.json").exists()
    return (staging / "report.json").exists() and not (staging / "README.md").exists()


def kill_in_step(corpus: Path, out: Path, step: str) -> None:
    run = ultrachat("prepare", "all", "--data-dir", str(corpus), "--out", str(out), "--quiet",
                    "--workers", "1")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and run.poll() is None:
            if any(in_step(staging, step) for staging in out.parent.glob(f".{out.name}.building-*")):
                run.send_signal(signal.SIGKILL)
                run.wait()
                return
            time.sleep(0.002)
        pytest.fail(f"the run ended (exit {run.poll()}) before it was seen in step {step}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


@pytest.mark.parametrize("step", ["rows", "card"])
def test_a_kill_into_a_fresh_folder_leaves_no_folder_anyone_can_load(corpus, tmp_path, step):
    out = tmp_path / "ultrachat"
    kill_in_step(corpus, out, step)
    assert not out.exists()
    assert list(tmp_path.glob(".ultrachat.building-*"))  # SIGKILL: the build folder stays aside...
    prepare(local_inputs("all", corpus), out, "all", progress=False)
    assert not list(tmp_path.glob(".ultrachat.*"))  # ...and the next run clears it
    assert (out / MARKER).is_file()


@pytest.mark.parametrize("step", ["rows", "card"])
def test_a_kill_over_an_existing_dataset_leaves_it_unchanged_and_loadable(corpus, small, tmp_path,
                                                                         step):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", small), out, "all", progress=False)
    before = snapshot(out)
    kill_in_step(corpus, out, step)
    assert snapshot(out) == before
    assert_loads_whole(out)


def assert_loads_whole(out: Path) -> None:
    """`datasets` loads the folder, and it holds exactly the rows its report says were kept."""
    loaded = datasets.load_dataset(str(out), "all")
    kept = json.loads((out / "report.json").read_text())["kept"]
    assert sum(split.num_rows for split in loaded.values()) == kept


def test_ctrl_c_leaves_the_previous_dataset_and_nothing_aside(corpus, small, tmp_path):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", small), out, "all", progress=False)
    before = snapshot(out)
    run = ultrachat("prepare", "all", "--data-dir", str(corpus), "--out", str(out), "--quiet",
                    "--workers", "1")
    deadline = time.monotonic() + 120
    while not any(in_step(s, "rows") for s in tmp_path.glob(".ultrachat.building-*")):
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    assert "interrupted" in run.stderr.read()
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".ultrachat.*"))


def test_a_rerun_replaces_the_folder_whole(small, corpus, tmp_path):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", corpus), out, "all", progress=False)
    (out / "data" / "world" / "train-00007-of-00009.parquet").write_bytes(b"stale")
    prepare(local_inputs("all", small), out, "all", progress=False)
    assert not (out / "data" / "world" / "train-00007-of-00009.parquet").exists()
    assert_loads_whole(out)  # the small corpus only, nothing mixed in


def test_a_users_folder_is_never_overwritten_without_overwrite(small, tmp_path):
    out = tmp_path / "project"
    (out / "data" / "writing").mkdir(parents=True)
    (out / "README.md").write_text("my notes")
    (out / "data" / "writing" / "mine.parquet").write_bytes(b"mine")
    before = snapshot(out)
    with pytest.raises(OutputFolderError, match=f"{out} is not empty and was not written by.*--overwrite"):
        prepare(local_inputs("writing", small), out, "writing", progress=False)
    assert snapshot(out) == before
    prepare(local_inputs("writing", small), out, "writing", progress=False, overwrite=True)
    assert not (out / "data" / "writing" / "mine.parquet").exists()
    assert (out / MARKER).is_file()


def test_another_config_into_a_prepared_folder_is_refused_never_mixed(small, tmp_path):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", small), out, "all", progress=False)
    before = snapshot(out)
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "prepare", "writing",
                             "--data-dir", str(small), "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "holds config 'all'" in result.stderr and "--overwrite" in result.stderr
    assert snapshot(out) == before
    prepare(local_inputs("writing", small), out, "writing", progress=False, overwrite=True)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["writing"]  # replaced whole


def test_out_naming_a_file_is_one_line_and_exit_2(small, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "prepare", "all",
                             "--data-dir", str(small), "--out", str(target), "--quiet"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "is a file, not a folder" in result.stderr
    assert target.read_text() == "keep me"


def test_a_swap_cut_between_its_renames_is_mended_by_the_next_run(small, tmp_path):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", small), out, "all", progress=False)
    before = snapshot(out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    aside = tmp_path / f".ultrachat.old-{dead}-0000"
    os.rename(out, aside)  # as a run killed after moving the old folder aside leaves it
    from ultrachat_dataset.dataset.folder import _mend
    _mend(out.absolute())
    assert snapshot(out) == before and not aside.exists()


def test_a_folder_it_cannot_write_is_one_clear_error(small, tmp_path):
    (tmp_path / "notes.txt").write_text("a file where a folder would have to be")
    with pytest.raises(OutputFolderError, match="prepare stopped.*notes.txt"):
        prepare(local_inputs("all", small), tmp_path / "notes.txt" / "out", "all", progress=False)


def test_a_link_to_a_folder_is_followed_and_stays_a_link(small, tmp_path):
    real = tmp_path / "disk" / "ultrachat"
    real.parent.mkdir()
    link = tmp_path / "ultrachat"
    link.symlink_to(real, target_is_directory=True)
    prepare(local_inputs("all", small), link, "all", progress=False)
    prepare(local_inputs("all", small), link, "all", progress=False)  # over an existing dataset
    assert link.is_symlink() and (real / MARKER).is_file()
    assert not list((tmp_path / "disk").glob(".ultrachat.*")) and not list(tmp_path.glob(".ultrachat.*"))


def test_without_an_atomic_exchange_two_renames_replace_the_folder(small, tmp_path, monkeypatch):
    import ultrachat_dataset.dataset.folder as folder
    monkeypatch.setattr(folder, "_exchange", lambda first, second: False)  # not Linux, say
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", small), out, "all", progress=False)
    (out / "stale.txt").write_text("from before")
    prepare(local_inputs("all", small), out, "all", progress=False)
    assert not (out / "stale.txt").exists() and (out / MARKER).is_file()
    assert not list(tmp_path.glob(".ultrachat.*"))


def test_the_release_folder_itself_is_never_the_output_even_with_overwrite(small, tmp_path):
    import shutil
    release = tmp_path / "release"
    shutil.copytree(small, release)
    before = snapshot(release)
    for out in (release, tmp_path):
        with pytest.raises(OutputFolderError, match="holds the input"):
            prepare(local_inputs("all", release), out, "all", progress=False, overwrite=True)
    assert snapshot(release) == before
