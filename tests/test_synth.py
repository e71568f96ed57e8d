"""The synthesizer writes the release format, the sector shapes, deterministically per seed."""

import hashlib
import json

import pytest

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.release.read import read_file
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import EXCHANGES, SynthOptions, parse_defect_rates, synthesize


def digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        synthesize(tmp_path / name, dialogues=200, seed=seed, defect_rates={"duplicate": 0.1})
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_release_format_and_sector_shapes(tmp_path):
    synthesize(tmp_path, dialogues=600, seed=1)
    first = (tmp_path / "ultrachat_release_230407.json").read_text().splitlines()[0]
    record = json.loads(first)
    assert set(record) == {"id", "data"} and record["id"] == "0"
    for item in local_inputs("all", tmp_path):
        exchanges = [len(row["data"]) // 2 for batch in read_file(item.path)
                     for row in batch.rows.to_pylist()]
        allowed = EXCHANGES[item.sector][0]
        assert set(exchanges) <= set(allowed), item.source
        assert len(set(exchanges)) >= 2
    writing = next(read_file(tmp_path / "ultrachat_material_release_230412.json")).rows
    openers = [data[0] for data in writing.column("data").to_pylist()]
    assert all(opener.split()[0] in {"Write", "Compose", "Draft"} for opener in openers)


def test_utterance_lengths_are_realistic(tmp_path):
    synthesize(tmp_path, dialogues=300, seed=2)
    words = [len(turn.split()) for item in local_inputs("all", tmp_path)
             for batch in read_file(item.path) for data in batch.rows.column("data").to_pylist()
             for turn in data]
    mean = sum(words) / len(words)
    assert 180 < mean < 300  # whitespace words; ~300 LLaMA tokens an utterance


def test_hub_layout_writes_ten_unlabelled_shards(tmp_path):
    manifest = synthesize(tmp_path, dialogues=100, seed=0, layout="hub")
    assert sorted(manifest["files"]) == sorted(f"train_{i}.jsonl" for i in range(10))
    assert sum(f["dialogues"] for f in manifest["files"].values()) == 100
    assert [item.sector for item in local_inputs("all", tmp_path)] == [None] * 10


def test_defect_options_are_checked():
    assert parse_defect_rates("duplicate=0.1, mojibake=0.2") == {"duplicate": 0.1, "mojibake": 0.2}
    with pytest.raises(ConfigError, match="unknown defect kind typo"):
        SynthOptions(defect_rates={"typo": 0.1})
    with pytest.raises(ConfigError, match="NAME=RATE"):
        parse_defect_rates("duplicate")
    with pytest.raises(ConfigError, match="more than 1"):
        SynthOptions(defect_rates={"duplicate": 0.7, "mojibake": 0.6})
