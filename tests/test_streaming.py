"""Streaming to training jobs: every rank sees the same count, every example once per epoch,
deterministic shuffles per epoch, and exact resumption."""

import itertools
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.layout import split_files
from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.training.streaming import DistributedStream, iterable_dataset, plan_chunks


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """103 rows (a prime: no world size divides it) in 3 files of uneven row groups."""
    folder = tmp_path_factory.mktemp("stream")
    paths, row = [], 0
    for index, groups in enumerate([(10, 17, 5), (31,), (8, 8, 8, 16)]):
        path = folder / f"train-{index:05d}-of-00003.parquet"
        with pq.ParquetWriter(path, pa.schema([("key", pa.int64())])) as writer:
            for size in groups:
                writer.write_table(pa.table({"key": list(range(row, row + size))}))
                row += size
        paths.append(path)
    assert row == 103
    return paths


def keys_of(stream):
    return [item["key"] for item in stream]


@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("workers", [0, 1, 2, 4])
@pytest.mark.parametrize("remainder", ["drop", "pad"])
def test_ranks_and_workers_cover_every_example_once_with_equal_counts(files, world_size, workers,
                                                                      remainder):
    per_rank, seen = [], Counter()
    for rank in range(world_size):
        count = 0
        for worker in range(max(workers, 1)):  # 0 workers: the main process reads alone
            stream = DistributedStream(files, rank=rank, world_size=world_size, seed=7,
                                       remainder=remainder, worker=(worker, max(workers, 1)))
            keys = keys_of(stream)
            assert len(keys) == len(stream)
            count += len(keys)
            seen.update(keys)
        per_rank.append(count)
    assert len(set(per_rank)) == 1  # every rank the same number of examples
    if remainder == "drop":
        assert per_rank[0] == 103 // world_size
        assert set(seen.values()) <= {1} and len(seen) == 103 - 103 % world_size
    else:
        assert per_rank[0] == -(-103 // world_size)
        assert set(range(103)) <= set(seen)  # every example, a few twice
        assert sum(seen.values()) - 103 == per_rank[0] * world_size - 103


def test_epochs_reshuffle_deterministically(files):
    def epoch_order(epoch, seed=3):
        stream = DistributedStream(files, seed=seed)
        stream.set_epoch(epoch)
        return keys_of(stream)

    assert epoch_order(0) == epoch_order(0)
    assert epoch_order(0) != epoch_order(1)
    assert sorted(epoch_order(1)) == list(range(103))
    assert epoch_order(0, seed=4) != epoch_order(0, seed=3)
    unshuffled = DistributedStream(files, shuffle=False)
    assert keys_of(unshuffled) == list(range(103))


def test_dropped_examples_change_from_epoch_to_epoch(files):
    dropped = []
    for epoch in range(3):
        seen = set()
        for rank in range(4):
            stream = DistributedStream(files, rank=rank, world_size=4, seed=1)
            stream.set_epoch(epoch)
            seen.update(keys_of(stream))
        dropped.append(set(range(103)) - seen)
    assert all(len(d) == 3 for d in dropped) and len({frozenset(d) for d in dropped}) > 1


@pytest.mark.parametrize("stop_after", [0, 1, 9, 10, 40, 50])
def test_resume_after_k_examples_continues_exactly(files, stop_after):
    full = keys_of(DistributedStream(files, rank=1, world_size=2, seed=5))
    stream = DistributedStream(files, rank=1, world_size=2, seed=5)
    first = list(itertools.islice(iter(stream), stop_after))
    state = stream.state_dict()
    resumed = DistributedStream(files, rank=1, world_size=2, seed=5)
    resumed.load_state_dict(state)
    assert [r["key"] for r in first] + keys_of(resumed) == full


def test_resuming_with_other_settings_is_refused(files):
    state = DistributedStream(files, rank=0, world_size=2).state_dict()
    with pytest.raises(ConfigError, match="world_size=2.*world_size=4"):
        DistributedStream(files, rank=0, world_size=4).load_state_dict(state)


def test_chunks_are_at_least_the_asked_number_and_cover_every_row(files):
    chunks = plan_chunks(files, min_chunks=64)
    assert len(chunks) >= 64
    assert sum(c.stop - c.start for c in chunks) == 103


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from ultrachat_dataset.release.sources import sample_dir
    out = tmp_path_factory.mktemp("prepared") / "ultrachat"
    prepare(local_inputs("all", sample_dir()), out, "all", progress=False)
    return out


def test_iterable_dataset_of_a_prepared_folder_has_enough_shards(prepared):
    stream = iterable_dataset(prepared, "writing", num_shards=64)
    assert stream.num_shards >= 64
    rows = list(stream)
    expected = sum(pq.ParquetFile(p).metadata.num_rows for p in split_files(prepared, "writing"))
    assert len(rows) == expected and {r["sector"] for r in rows} == {"writing"}


def test_iterable_dataset_splits_by_node_and_shuffles_by_epoch(prepared):
    from datasets.distributed import split_dataset_by_node
    stream = iterable_dataset(prepared, "all", num_shards=64)
    ids = set()
    for rank in range(4):
        part = split_dataset_by_node(stream, rank=rank, world_size=4)
        ids.update((r["source"], r["line"]) for r in part)
    assert len(ids) == sum(1 for _ in stream)
    shuffled = stream.shuffle(seed=1, buffer_size=50)
    shuffled.set_epoch(0)
    first = [r["line"] for r in itertools.islice(shuffled, 20)]
    shuffled.set_epoch(1)
    second = [r["line"] for r in itertools.islice(shuffled, 20)]
    assert first != second


def test_iterable_dataset_resumes_from_its_state_dict(prepared):
    stream = iterable_dataset(prepared, "world", num_shards=64)
    full = [r["line"] for r in stream]
    iterator = iter(stream)
    head = [next(iterator)["line"] for _ in range(25)]
    state = stream.state_dict()
    stream.load_state_dict(state)
    assert head + [r["line"] for r in stream] == full


def test_iterable_dataset_uses_parquet_row_groups_when_there_are_enough(prepared, tmp_path):
    """Files with many row groups stream through datasets' parquet reader, one shard a group."""
    import shutil
    folder = tmp_path / "many"
    shutil.copy(prepared / "README.md", folder.mkdir() or folder / "README.md")
    for sector_dir in (prepared / "data").iterdir():
        for path in sector_dir.glob("train-*.parquet"):
            target = folder / "data" / sector_dir.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pq.read_table(path), target, row_group_size=10)
    stream = iterable_dataset(folder, "all", num_shards=64)
    assert stream.num_shards >= 64
    lines = sorted((r["source"], r["line"]) for r in stream)
    expected = sorted((r["source"], r["line"]) for p in split_files(prepared, "all")
                      for r in pq.read_table(p, columns=["source", "line"]).to_pylist())
    assert lines == expected


@pytest.fixture(scope="module")
def sector_files(tmp_path_factory):
    """12 row groups of 1,000 rows, each one sector (as a prepared `all` folder's are): world 1/2,
    writing 1/3, assistance 1/6 of the rows."""
    folder = tmp_path_factory.mktemp("sectors")
    sectors = ["world"] * 6 + ["writing"] * 4 + ["assistance"] * 2
    paths = []
    for index in range(3):
        path = folder / f"train-{index:05d}-of-00003.parquet"
        with pq.ParquetWriter(path, pa.schema([("sector", pa.string())])) as writer:
            for group in range(4):
                writer.write_table(pa.table({"sector": [sectors[index * 4 + group]] * 1000}))
        paths.append(path)
    return paths


def worst_window_deviation(files, **options) -> float:
    """The largest gap between a sector's share in a window of 1,000 examples of any rank's
    stream and its share of the whole split."""
    shares = {"world": 1 / 2, "writing": 1 / 3, "assistance": 1 / 6}
    worst = 0.0
    for rank in range(4):
        sectors = [row["sector"] for row in DistributedStream(files, rank=rank, world_size=4, **options)]
        for start in range(0, len(sectors) - 999, 1000):
            window = Counter(sectors[start:start + 1000])
            worst = max(worst, *(abs(window[s] / 1000 - share) for s, share in shares.items()))
    return worst


def test_every_rank_sees_a_fair_mix_of_the_split_in_short_windows(sector_files):
    for seed in (0, 1, 2):
        assert worst_window_deviation(sector_files, seed=seed) < 0.2
    # One row group at a time (what the stream did before lanes) is not a mix at all.
    assert worst_window_deviation(sector_files, seed=0, lanes=1) > 0.5


def test_the_mixed_order_still_covers_every_example_once(sector_files):
    seen = []
    for rank in range(3):
        stream = DistributedStream(sector_files, rank=rank, world_size=3, seed=4)
        stream.set_epoch(1)
        seen += [row["sector"] for row in stream]
    assert Counter(seen) == {"world": 6000, "writing": 4000, "assistance": 2000}


def test_seven_row_groups_still_give_at_least_64_chunks(tmp_path):
    path = tmp_path / "train-00000-of-00001.parquet"
    with pq.ParquetWriter(path, pa.schema([("key", pa.int64())])) as writer:
        for group in range(7):  # 1,000 rows each: 7000 // 64 = 109 rows a chunk, 9.17 a group
            writer.write_table(pa.table({"key": list(range(group * 1000, (group + 1) * 1000))}))
    chunks = plan_chunks([path], 64)
    assert len(chunks) >= 64
    assert sum(chunk.stop - chunk.start for chunk in chunks) == 7000
