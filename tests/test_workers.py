"""The per-row stages on worker threads: the same bytes whatever the number of workers, blocks
taken back in release order, and an error in a stage raised, not lost."""

import pytest

import ultrachat_dataset.prepare.pipeline as pipeline
import ultrachat_dataset.release.read as read
from conftest import file_digests
from ultrachat_dataset.errors import DataFileError
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import synthesize


@pytest.fixture
def small_blocks(monkeypatch):
    # Small blocks: many of them in flight, finishing out of order on several threads.
    monkeypatch.setattr(read, "DEFAULT_BLOCK_BYTES", 32 << 10)


def test_any_number_of_workers_writes_the_same_bytes(tmp_path, small_blocks):
    data = tmp_path / "data"
    synthesize(data, dialogues=600, seed=5, length_scale=0.3,
               defect_rates={"mojibake": 0.05, "non_english": 0.05, "duplicate": 0.05,
                             "near_duplicate": 0.05, "casing": 0.05, "invalid_json": 0.02})
    inputs = local_inputs("all", data)
    one = pipeline.prepare(inputs, tmp_path / "one", progress=False, workers=1)
    three = pipeline.prepare(inputs, tmp_path / "three", progress=False, workers=3)
    assert three.totals().kept == one.totals().kept > 0
    assert sum(one.totals().rejected.values()) > 0
    assert file_digests(tmp_path / "three") == file_digests(tmp_path / "one")


def test_an_error_in_a_stage_is_raised_and_nothing_is_written(tmp_path, small_blocks, monkeypatch):
    data = tmp_path / "data"
    synthesize(data, dialogues=200, seed=6, length_scale=0.3)
    calls = []

    def failing_on_the_third_block(block, *arguments):
        calls.append(block)
        if len(calls) == 3:
            raise RuntimeError("a stage failed on this block")
        return stages(block, *arguments)

    stages = pipeline._per_row_stages
    monkeypatch.setattr(pipeline, "_per_row_stages", failing_on_the_third_block)
    with pytest.raises(RuntimeError, match="a stage failed on this block"):
        pipeline.prepare(local_inputs("all", data), tmp_path / "out", progress=False, workers=2)
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_release_data_is_one_error_across_blocks_and_workers(tmp_path, small_blocks):
    # Parsing runs on the workers: the file is judged whole when its last block comes back.
    data = tmp_path / "data"
    synthesize(data, dialogues=200, seed=6, length_scale=0.3)
    table = data / "ultrachat_material_release_230412.json"
    table.write_text("".join(f"{n},a line of a spreadsheet export\n" for n in range(4000)))
    assert table.stat().st_size > 3 * (32 << 10)  # several blocks
    with pytest.raises(DataFileError, match="ultrachat_material_release_230412.json: none of its "
                                            "4000 lines is a JSON object"):
        pipeline.prepare(local_inputs("all", data), tmp_path / "out", progress=False, workers=2)
    assert not (tmp_path / "out").exists()
