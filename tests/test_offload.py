"""Helper processes for ftfy: the same answers as on the calling thread, in
order; a helper that dies loses nothing; and a user's unguarded script never runs twice."""

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import file_digests
from ultrachat_dataset import offload
from ultrachat_dataset.offload import helper_processes, map_texts
from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs

PARENT = "ULTRACHAT_TEST_PARENT_PID"


def pid_and_text(text):
    return os.getpid(), text.upper()


def dies_in_a_helper(text):
    if os.getpid() != int(os.environ[PARENT]):
        os._exit(3)
    return text.upper()


def fails(text):
    raise ValueError(f"cannot take {text!r}")


TEXTS = [f"text {number} " * (number % 7 + 1) for number in range(40)]


def test_helpers_start_for_a_batch_worth_it_then_take_every_batch_in_order():
    with helper_processes(2):
        before = map_texts(pid_and_text, ["a"], seconds_per_char=1e-9)
        assert not offload._pool.started  # not worth starting a helper: done here
        answers = map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)
        after = map_texts(pid_and_text, ["b"], seconds_per_char=1e-9)
        started = list(offload._pool.started)
    assert before == [(os.getpid(), "A")]
    assert [text for _, text in answers] == [text.upper() for text in TEXTS]
    helpers = {pid for pid, _ in answers}
    assert os.getpid() not in helpers and len(helpers) == 2
    assert after[0][0] in helpers and after[0][1] == "B"  # running: small batches go there too
    assert all(helper.process.poll() is not None for helper in started)  # stopped with the block


def test_outside_helper_processes_everything_runs_here():
    assert {pid for pid, _ in map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)} == {os.getpid()}


def test_a_helper_that_dies_loses_nothing_and_the_rest_runs_here(monkeypatch, caplog):
    monkeypatch.setenv(PARENT, str(os.getpid()))
    with caplog.at_level(logging.WARNING), helper_processes(2):
        first = map_texts(dies_in_a_helper, TEXTS, seconds_per_char=1.0)
        later = map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)
    assert first == [text.upper() for text in TEXTS]
    assert {pid for pid, _ in later} == {os.getpid()}
    assert "exit code 3" in caplog.text and "in this process" in caplog.text


def test_an_error_of_the_function_is_raised_as_if_it_ran_here():
    with helper_processes(2), pytest.raises(ValueError, match="cannot take"):
        map_texts(fails, TEXTS, seconds_per_char=1.0)


def test_prepare_writes_the_same_bytes_with_every_batch_on_helpers(defect_corpus, tmp_path, monkeypatch):
    started = []

    class CountedHelper(offload._Helper):
        def __init__(self):
            super().__init__()
            started.append(self)

    monkeypatch.setattr(offload, "_Helper", CountedHelper)
    monkeypatch.setattr(offload, "MIN_SECONDS", 0.0)  # every batch goes to a helper
    prepare(local_inputs("all", defect_corpus), tmp_path / "helpers", progress=False)
    assert started  # the helpers did run
    monkeypatch.setattr(offload, "MIN_SECONDS", float("inf"))  # every batch stays here
    prepare(local_inputs("all", defect_corpus), tmp_path / "here", progress=False)
    assert file_digests(tmp_path / "helpers") == file_digests(tmp_path / "here")


RELEASE = "ULTRACHAT_TEST_RELEASE_FILE"


def slow_until_released(text):
    """"slow" says it started (RELEASE + ".started") and waits until the test creates the file
    RELEASE names; anything else answers at once."""
    if text == "slow":
        Path(os.environ[RELEASE] + ".started").touch()
    while text == "slow" and not os.path.exists(os.environ[RELEASE]):
        time.sleep(0.01)
    return text.upper()


def test_a_helper_takes_other_work_once_its_own_part_is_answered(monkeypatch, tmp_path):
    """A batch split over both helpers, one part slow: the helper that answered the quick part
    is free for another thread's batch at once, not only when the slow part is in."""
    release = tmp_path / "release"
    monkeypatch.setenv(RELEASE, str(release))
    with helper_processes(2):
        map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)  # both helpers started, now idle
        slow = []
        first = threading.Thread(target=lambda: slow.append(
            map_texts(slow_until_released, ["quick", "slow"], seconds_per_char=1.0)))
        first.start()
        # Bounds below only end a hung test; nothing depends on how fast a loaded machine is.
        # (Not "both helpers busy": the quick part may be answered before anyone looks.)
        assert wait_until(lambda: Path(str(release) + ".started").exists())  # a helper holds "slow"
        other = []
        second = threading.Thread(target=lambda: other.append(
            map_texts(pid_and_text, ["b"], seconds_per_char=1.0)), daemon=True)
        second.start()
        second.join(timeout=300)
        answered_meanwhile = bool(other) and first.is_alive()  # "slow" is still held back
        release.touch()
        first.join(timeout=300)
        second.join(timeout=300)
    assert answered_meanwhile
    assert other[0][0][1] == "B" and other[0][0][0] != os.getpid()  # on a helper
    assert slow == [["QUICK", "SLOW"]]


def test_a_script_without_a_main_guard_runs_once(defect_corpus, tmp_path):
    """multiprocessing's spawn would run this script again in each helper (a second prepare
    into the same folder); a helper must import only what it needs."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import sys
        from pathlib import Path
        from ultrachat_dataset import offload
        from ultrachat_dataset.prepare.pipeline import prepare
        from ultrachat_dataset.release.sources import local_inputs
        offload.MIN_SECONDS = 0.0
        with open(sys.argv[3], "a") as marker:
            marker.write("ran\\n")
        report = prepare(local_inputs("all", Path(sys.argv[1])), sys.argv[2], progress=False)
        print("kept", report.totals().kept)
    """))
    marker = tmp_path / "runs.txt"
    done = subprocess.run([sys.executable, str(script), str(defect_corpus), str(tmp_path / "out"),
                           str(marker)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran\n"
    assert "kept" in done.stdout and "helper" not in done.stderr


def test_no_interpreter_to_start_means_everything_runs_here(monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with caplog.at_level(logging.WARNING), helper_processes(2):
        answers = map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)
    assert answers == [(os.getpid(), text.upper()) for text in TEXTS]
    assert "no helper process could start" in caplog.text


def wait_until(condition, bound: float = 300.0) -> bool:
    """Poll `condition`; the bound only ends a hung test (no assertion depends on speed)."""
    deadline = time.monotonic() + bound
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def sleeps_in_a_helper(text):
    if os.getpid() != int(os.environ[PARENT]):
        time.sleep(3600)
    return text.upper()


def test_an_interrupted_run_stops_its_helpers_at_once(monkeypatch):
    """Ctrl-C during a batch: the helpers are killed, not waited for (each would sleep an hour)."""
    monkeypatch.setenv(PARENT, str(os.getpid()))
    stops = []
    real_stop = offload._Helper.stop
    monkeypatch.setattr(offload._Helper, "stop", lambda helper, kill=False: (
        stops.append(kill), real_stop(helper, kill))[1])
    answers = []
    with pytest.raises(KeyboardInterrupt), helper_processes(2):
        started = offload._pool.started
        batch = threading.Thread(target=lambda: answers.append(
            map_texts(sleeps_in_a_helper, TEXTS, seconds_per_char=1.0)))
        batch.start()
        assert wait_until(lambda: len(started) == 2)  # both hold a part of the batch
        raise KeyboardInterrupt
    assert stops == [True, True]  # killed at once, not asked to finish and waited for
    assert all(helper.process.poll() is not None for helper in started)
    batch.join(timeout=300)
    assert answers == [[text.upper() for text in TEXTS]]  # the batch itself finished here


def test_two_runs_at_once_share_the_helpers_until_the_last_ends():
    """Two `prepare` calls on two threads of one process: the first to end does not stop the
    helpers the other is using."""
    first_in, first_out = threading.Event(), threading.Event()
    answers = {}

    def first_run():
        with helper_processes(2):
            answers["first"] = map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)
            first_in.set()
            first_out.wait(10)

    thread = threading.Thread(target=first_run)
    thread.start()
    with helper_processes(2):
        assert first_in.wait(10)
        first_out.set()
        thread.join(10)  # the first run has ended
        answers["second"] = map_texts(pid_and_text, TEXTS, seconds_per_char=1.0)
        helpers = list(offload._pool.started)
    assert {pid for pid, _ in answers["second"]} == {pid for pid, _ in answers["first"]}
    assert os.getpid() not in {pid for pid, _ in answers["second"]}  # still on the helpers
    assert all(helper.process.poll() is not None for helper in helpers)  # stopped at the end
    assert offload._pool is None
