"""The per-row stages in worker processes: same bytes as threads, errors surfaced, deaths named."""

import functools
import hashlib
import os

import pyarrow as pa
import pytest

import ultrachat_dataset.prepare.pipeline as pipeline
import ultrachat_dataset.stages.validate as validate_stage
from ultrachat_dataset.errors import UltraChatError
from ultrachat_dataset.prepare.parallel import ProcessStages, ThreadStages
from ultrachat_dataset.release.read import read_file
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import synthesize
from ultrachat_dataset.stages.validate import Block


def digests(out):
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_worker_processes_write_the_same_bytes_as_threads(tmp_path, monkeypatch):
    data = tmp_path / "data"
    synthesize(data, dialogues=600, seed=5, length_scale=0.3,
               defect_rates={"mojibake": 0.05, "non_english": 0.05, "duplicate": 0.05,
                             "near_duplicate": 0.05, "casing": 0.05, "invalid_json": 0.02})
    # Small blocks: many of them in flight, taken back in order from several children.
    monkeypatch.setattr(validate_stage, "read_file", functools.partial(read_file, block_bytes=32 << 10))
    inputs = local_inputs("all", data)
    by_threads = pipeline.prepare(inputs, tmp_path / "threads", progress=False, workers=1,
                                  processes=False)
    by_processes = pipeline.prepare(inputs, tmp_path / "processes", progress=False, workers=3,
                                    processes=True)
    assert by_processes.totals().kept == by_threads.totals().kept > 0
    assert digests(tmp_path / "processes") == digests(tmp_path / "threads")


def test_an_error_in_a_worker_process_is_raised_with_its_traceback():
    block = Block("f.json", pa.table({"id": ["1"]}), pa.table({}))  # no `data` column
    with ProcessStages(1, pipeline._per_row_stages, (pipeline.PrepareOptions(), None)) as stages:
        stages.submit(block)
        with pytest.raises(UltraChatError, match=r"(?s)worker process failed.*data"):
            stages.take()


def test_a_worker_process_that_dies_is_reported_with_its_exit_code():
    with ProcessStages(1, os._exit, ()) as stages:
        stages.submit(3)
        with pytest.raises(UltraChatError, match="died \\(exit code 3\\).*--threads"):
            stages.take()


def test_threads_and_processes_return_results_in_submission_order():
    for kind in (ThreadStages, ProcessStages):
        with kind(3, pow, (2,)) as stages:
            for value in range(10):
                stages.submit(value)
            assert [stages.take() for _ in range(10)] == [value ** 2 for value in range(10)]
