"""DistributedStream under a real torch DataLoader (0, 1, 2, 4 workers; world sizes 1 to 8).

torch is not a dependency (uv would lock the CUDA build, GBs): these tests run where the test
environment has torch (`uv pip install torch`; .ci/run installs the CPU build) and skip, saying
so, where it has not. Each script runs in a subprocess of the same interpreter, so that
DataLoader workers start as they do in a user's training script.
"""

import subprocess
import sys

import pytest

from conftest import needs

# 103 rows (a prime: no world size divides it) in 3 files of uneven row groups, at sys.argv[1].
WRITE_FILES = r'''
import sys
import pyarrow as pa, pyarrow.parquet as pq
folder, paths, row = sys.argv[1], [], 0
for index, groups in enumerate([(10, 17, 5), (31,), (8, 8, 8, 16)]):
    path = f"{folder}/train-{index}.parquet"
    with pq.ParquetWriter(path, pa.schema([("key", pa.int64())])) as writer:
        for size in groups:
            writer.write_table(pa.table({"key": list(range(row, row + size))}))
            row += size
    paths.append(path)
'''

SCRIPT = WRITE_FILES + r'''
import json
from collections import Counter
from torch.utils.data import DataLoader
from ultrachat_dataset.training.streaming import DistributedStream
results = []
for world in (1, 2, 3, 4, 8):
    for workers in (0, 1, 2, 4):
        for remainder in ("drop", "pad"):
            seen, counts = Counter(), []
            for rank in range(world):
                stream = DistributedStream(paths, rank=rank, world_size=world, seed=7,
                                           remainder=remainder)
                keys = [int(item["key"]) for item in DataLoader(stream, batch_size=None,
                                                               num_workers=workers)]
                counts.append(len(keys))
                seen.update(keys)
            results.append({"world": world, "workers": workers, "remainder": remainder,
                            "counts": counts, "seen": dict(seen)})
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def torch_python():
    needs("torch")
    return sys.executable


def test_every_rank_gets_the_same_count_under_a_real_dataloader(torch_python, tmp_path):
    import json
    result = subprocess.run([torch_python, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for case in json.loads(result.stdout.strip().splitlines()[-1]):
        world, counts = case["world"], case["counts"]
        seen = {int(k): v for k, v in case["seen"].items()}
        assert len(set(counts)) == 1, case
        if case["remainder"] == "drop":
            assert counts[0] == 103 // world and set(seen.values()) == {1}, case
        else:
            assert counts[0] == -(-103 // world) and set(range(103)) <= set(seen), case


RESUME_SCRIPT = WRITE_FILES + r'''
import itertools, json
from torch.utils.data import DataLoader
from ultrachat_dataset.training.streaming import DistributedStream, StreamLoader

def keys(batches):
    return [int(k) for batch in batches for k in batch["key"]]

def loader(workers, state=None):
    stream = DistributedStream(paths, rank=1, world_size=2, seed=3)
    stream.set_epoch(2)
    made = StreamLoader(stream, batch_size=4, num_workers=workers)
    if state is not None:
        made.load_state_dict(state)
    return made

results = []
for workers in (0, 1, 2):
    full = list(loader(workers))
    plain = DataLoader(DistributedStream(paths, rank=1, world_size=2, seed=3, batch_size=4),
                       batch_size=4, num_workers=workers)
    results.append({"workers": workers, "len": len(loader(workers)), "batches": len(full),
                    "plain_len": len(plain), "plain_batches": sum(1 for _ in plain)})
    for stop in (0, 1, 3, len(full) - 1, len(full)):
        first = loader(workers)
        taken = list(itertools.islice(iter(first), stop))
        state = json.loads(json.dumps(first.state_dict()))  # as a checkpoint stores it
        rest = list(loader(workers, state))
        results.append({"workers": workers, "stop": stop, "exact": keys(taken) + keys(rest) == keys(full),
                        "consumed": state["consumed"]})
print(json.dumps(results))
'''


def test_resume_with_dataloader_workers_continues_exactly_and_len_is_what_comes_out(torch_python,
                                                                                   tmp_path):
    import json
    result = subprocess.run([torch_python, "-c", RESUME_SCRIPT, str(tmp_path)], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    cases = json.loads(result.stdout.strip().splitlines()[-1])
    for case in cases:
        if "len" in case:  # rank 1 of 2 over 103 rows: 51 examples in batches of 4
            assert case["len"] == case["batches"] == 13, case
            assert case["plain_len"] == case["plain_batches"] == 13, case
        else:
            assert case["exact"], case
            assert case["consumed"] == min(4 * case["stop"], 51), case
    assert {case["workers"] for case in cases} == {0, 1, 2}


COLLATOR_SCRIPT = r'''
import json
from types import SimpleNamespace
import torch
from ultrachat_dataset.training.template import AssistantLabelsCollator

tokenizer = SimpleNamespace(pad_token_id=0, padding_side="right")
features = [{"input_ids": [5, 6, 7, 8], "assistant_masks": [0, 0, 1, 1]},
            {"input_ids": [9, 10], "assistant_masks": [0, 1]}]
batch = AssistantLabelsCollator(tokenizer)(features)
print(json.dumps({name: {"type": type(value).__name__, "dtype": str(value.dtype),
                         "values": value.tolist()} for name, value in batch.items()}))
'''


def test_the_labels_collator_gives_torch_tensors_a_trainer_takes(torch_python):
    import json
    result = subprocess.run([torch_python, "-c", COLLATOR_SCRIPT], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    batch = json.loads(result.stdout.strip().splitlines()[-1])
    assert {value["type"] for value in batch.values()} == {"Tensor"}
    assert {value["dtype"] for value in batch.values()} == {"torch.int64"}
    assert batch["input_ids"]["values"] == [[5, 6, 7, 8], [9, 10, 0, 0]]
    assert batch["attention_mask"]["values"] == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"]["values"] == [[-100, -100, 7, 8], [-100, 10, -100, -100]]
