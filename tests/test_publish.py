"""`load_dataset("ultrachat", config)` as users type it: the builder on this `datasets`, the
published script-free folder (offline, streaming too), and the loading script on datasets 3.6."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fake_hub import FakeHub
from huggingface_hub import DatasetCard

import ultrachat_dataset
from conftest import file_digests
from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.layout import CONFIGS
from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import DEFECTS, synthesize

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    synthesize(out, dialogues=1200, seed=8, length_scale=0.25,
               defect_rates={kind: 0.01 for kind in DEFECTS})
    return out


@pytest.fixture(scope="module")
def published(release, tmp_path_factory):
    """`ultrachat prepare all --out <parent>/ultrachat`: the folder users load by name."""
    parent = tmp_path_factory.mktemp("hub")
    prepare(local_inputs("all", release), parent / "ultrachat", "all", progress=False)
    return parent / "ultrachat"


def run_python(code: str, cwd: Path, python: str = sys.executable, **env) -> dict:
    """Run `code` in a fresh interpreter, offline; it prints one JSON line last."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                   "HF_HOME": str(cwd / ".hf"), **env}
    result = subprocess.run([python, "-c", code], cwd=cwd, capture_output=True, text=True,
                            env=environment, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("config", CONFIGS)
def test_builder_for_every_config_matches_its_report(release, tmp_path, config):
    ds = ultrachat_dataset.load_dataset(config, source="local", data_dir=str(release),
                                        cache_dir=str(tmp_path))
    report_path = next((tmp_path / "ultrachat_prepared").glob("*/report.json"))
    report = json.loads(report_path.read_text())
    assert ds["train"].num_rows + ds["test"].num_rows == report["kept"] > 0
    assert ds["test"].num_rows > 0
    sectors = set(ds["train"]["sector"])
    assert sectors == ({"world", "writing", "assistance"} if config == "all" else {config})
    first = ds["train"][0]["messages"]
    assert [m["role"] for m in first[:2]] == ["user", "assistant"]


def test_builder_streams(release, tmp_path):
    stream = ultrachat_dataset.load_dataset("world", split="train", streaming=True, source="local",
                                            data_dir=str(release), cache_dir=str(tmp_path))
    rows = list(stream)
    assert rows and {row["sector"] for row in rows} == {"world"}


def test_published_folder_loads_offline_by_name_for_every_config(published):
    card = DatasetCard.load(published / "README.md").data.to_dict()
    expected = {info["config_name"]: {s["name"]: s["num_examples"] for s in info["splits"]}
                for info in card["dataset_info"]}
    code = """
import datasets, json
out = {}
for config in ("all", "world", "writing", "assistance"):
    ds = datasets.load_dataset("ultrachat", config)
    stream = datasets.load_dataset("ultrachat", config, split="train", streaming=True)
    out[config] = {"train": ds["train"].num_rows, "test": ds["test"].num_rows,
                   "streamed": sum(1 for _ in stream), "columns": ds["train"].column_names}
print(json.dumps(out))
"""
    loaded = run_python(code, published.parent)
    assert set(loaded) == set(expected) == set(CONFIGS)
    for config, counts in loaded.items():
        assert {"train": counts["train"], "test": counts["test"]} == expected[config]
        assert counts["streamed"] == counts["train"]
        assert counts["columns"] == ["key", "id", "sector", "source", "line", "prompt", "prompt_id",
                                     "messages", "num_exchanges", "language", "flags"]
    default = run_python("import datasets, json; ds = datasets.load_dataset('ultrachat'); "
                         "print(json.dumps(ds['train'].num_rows))", published.parent)
    assert default == expected["all"]["train"]


def test_card_yaml_matches_the_parquet_files(published):
    card = DatasetCard.load(published / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "mit" and data["language"] == ["en"]
    assert [c["config_name"] for c in data["configs"]] == ["all", "assistance", "world", "writing"]
    assert [c.get("default", False) for c in data["configs"]] == [True, False, False, False]
    infos = {info["config_name"]: info for info in data["dataset_info"]}
    for config in data["configs"]:
        for entry in config["data_files"]:
            patterns = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
            files = [p for pattern in patterns for p in published.glob(pattern)]
            assert files, patterns
            rows = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
            split = next(s for s in infos[config["config_name"]]["splits"] if s["name"] == entry["split"])
            assert split["num_examples"] == rows
    report = json.loads((published / "report.json").read_text())
    assert f"{report['lines']} lines read" in card.text
    for reason, count in report["rejected"].items():
        assert f"| `{reason}` | {count} |" in card.text


def test_publishing_twice_gives_identical_files(release, tmp_path):
    digests = []
    for name in ("one", "two"):
        prepare(local_inputs("all", release), tmp_path / name, "all", progress=False)
        digests.append(file_digests(tmp_path / name))  # report.json's seconds aside
    assert digests[0] == digests[1]
    assert "README.md" in digests[0]


@pytest.mark.parametrize("config, options, message", [
    ("chat", {}, "unknown config 'chat'"),
    ("writing", {"source": "local"}, "source='local' needs data_dir"),
    ("writing", {"source": "local", "data_dir": "x", "filters": ("typo",)}, "unknown filter typo"),
    ("writing", {"colour": "red"}, "unknown option colour"),
    ("writing", {"source": "ftp"}, "unknown source 'ftp'"),
])
def test_bad_options_are_one_clear_error_each(tmp_path, config, options, message):
    with pytest.raises(ConfigError, match=message):
        ultrachat_dataset.load_dataset(config, cache_dir=str(tmp_path), **options)


@pytest.fixture(scope="module")
def datasets_36(tmp_path_factory):
    """A virtual environment with datasets 3.6 and this package, made by uv from the package
    registry (as a user of datasets 3.x has it); with no registry, the tests skip saying so."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.skip("needs uv to build a datasets 3.6 environment: pip install uv")
    venv = tmp_path_factory.mktemp("datasets36") / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run([uv, "pip", "install", "-q", "--python", python, "datasets==3.6.0",
                                "huggingface_hub<1.0", "-e", str(REPO)], capture_output=True, text=True)
    if installed.returncode:
        pytest.skip("needs datasets 3.6 from the package registry, which `uv pip install` could not "
                    f"reach: {installed.stderr.strip()[-300:]}")
    return python


def test_loading_script_works_on_datasets_3_6(datasets_36, release, tmp_path):
    code = f"""
import datasets, json
assert datasets.__version__ == "3.6.0"
ds = datasets.load_dataset({str(REPO / "loading_script.py")!r}, "writing", trust_remote_code=True,
                           source="local", data_dir={str(release)!r})
print(json.dumps({{"train": ds["train"].num_rows, "test": ds["test"].num_rows,
                  "sectors": sorted(set(ds["train"]["sector"]))}}))
"""
    loaded = run_python(code, tmp_path, python=datasets_36)
    direct = ultrachat_dataset.load_dataset("writing", source="local", data_dir=str(release),
                                            cache_dir=str(tmp_path / "direct"))
    assert loaded == {"train": direct["train"].num_rows, "test": direct["test"].num_rows,
                      "sectors": ["writing"]}


def test_script_free_folder_also_loads_on_datasets_3_6(datasets_36, published):
    code = "import datasets, json; ds = datasets.load_dataset('ultrachat', 'writing'); " \
           "print(json.dumps(ds['train'].num_rows))"
    rows = run_python(code, published.parent, python=datasets_36)
    assert rows == sum(pq.ParquetFile(p).metadata.num_rows
                       for p in (published / "data" / "writing").glob("train-*.parquet"))


def test_push_uploads_the_folder_to_the_hub_endpoint(published):
    with FakeHub() as hub:
        result = subprocess.run(
            [sys.executable, "-m", "ultrachat_dataset.cli", "push", "--repo", "org/ultrachat",
             "--folder", str(published)], capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_secret_token_123",
                 "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(published.parent / ".hf-push")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hf_secret_token_123" not in result.stdout + result.stderr
    local = {str(p.relative_to(published)): p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert hub.files == local
    assert [c["config_name"] for c in hub.card_metadata["configs"]] == ["all", "assistance", "world",
                                                                        "writing"]
    assert hub.repos[0]["name"] == "ultrachat" and hub.repos[0]["type"] == "dataset"
    assert all(headers.get("authorization") == "Bearer hf_secret_token_123" or
               headers.get("Authorization") == "Bearer hf_secret_token_123"
               for _, _, headers in hub.requests)


def test_push_refuses_a_folder_that_is_not_prepared(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "push", "--repo", "a/b",
                             "--folder", str(tmp_path), "--dry-run"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "is not a prepared dataset folder" in result.stderr


def test_a_row_stays_in_its_split_whatever_else_is_filtered(release, tmp_path):
    from ultrachat_dataset.prepare.pipeline import PrepareOptions

    def splits(out, options):
        prepare(local_inputs("world", release), out, "world", options, progress=False)
        return {(row["source"], row["line"]): split for split in ("train", "test")
                for path in (out / "data" / "world").glob(f"{split}-*.parquet")
                for row in pq.read_table(path, columns=["source", "line"]).to_pylist()}

    strict = splits(tmp_path / "a", PrepareOptions())
    loose = splits(tmp_path / "b", PrepareOptions(languages=None, dedup=()))
    assert len(loose) > len(strict)
    assert all(loose[key] == split for key, split in strict.items())
    assert "test" in set(strict.values())


def test_a_release_where_nothing_survives_still_publishes_an_empty_dataset(tmp_path):
    from ultrachat_dataset.release.synth import synthesize
    synthesize(tmp_path / "hub", dialogues=30, seed=1, layout="hub", defect_rates={"no_exchange": 1.0})
    report = prepare(local_inputs("all", tmp_path / "hub"), tmp_path / "out", "all", progress=False)
    assert report.totals().kept == 0 and report.totals().lines == 30
    card = DatasetCard.load(tmp_path / "out" / "README.md").data.to_dict()
    assert [c["config_name"] for c in card["configs"]] == ["all"]
    assert {s["num_examples"] for s in card["dataset_info"]["splits"]} == {0}


# ---- the builder's cache never serves rows of other files ------------------------------------

def _small_release(folder: Path, seed: int, dialogues: int = 60) -> Path:
    synthesize(folder, dialogues=dialogues, seed=seed, length_scale=0.2)
    return folder


def _ids(dataset_dict) -> set[tuple]:
    return {(row["source"], row["line"], row["messages"][0]["content"])
            for split in dataset_dict.values() for row in split}


def test_the_builder_prepares_again_when_the_files_changed(tmp_path):
    release = _small_release(tmp_path / "release", seed=1)
    first = ultrachat_dataset.load_dataset("writing", source="local", data_dir=str(release),
                                           cache_dir=str(tmp_path / "cache"))
    _small_release(tmp_path / "other", seed=2)
    for name in ("ultrachat_material_release_230412.json", "ultrachat_material_release_230417.json"):
        shutil.copyfile(tmp_path / "other" / name, release / name)  # the user replaced the files
    second = ultrachat_dataset.load_dataset("writing", source="local", data_dir=str(release),
                                            cache_dir=str(tmp_path / "cache"))
    fresh = ultrachat_dataset.load_dataset("writing", source="local", data_dir=str(tmp_path / "other"),
                                           cache_dir=str(tmp_path / "fresh-cache"))
    assert _ids(second) == _ids(fresh) != _ids(first)


def test_two_projects_with_their_own_release_folder_get_their_own_rows(tmp_path, monkeypatch):
    for project, seed in (("a", 1), ("b", 2)):
        _small_release(tmp_path / project / "release", seed=seed)
    loaded = {}
    for project in ("a", "b"):
        monkeypatch.chdir(tmp_path / project)
        loaded[project] = ultrachat_dataset.load_dataset("world", source="local", data_dir="release/",
                                                         cache_dir=str(tmp_path / "shared-cache"))
    assert _ids(loaded["a"]) and _ids(loaded["b"]) and _ids(loaded["a"]).isdisjoint(_ids(loaded["b"]))


def test_a_small_corpus_with_an_empty_test_split_loads(tmp_path):
    release = _small_release(tmp_path / "release", seed=1, dialogues=8)
    ds = ultrachat_dataset.load_dataset("writing", source="local", data_dir=str(release),
                                        cache_dir=str(tmp_path / "cache"))
    assert ds["test"].num_rows == 0 and ds["train"].num_rows > 0
    assert ds["test"].features == ds["train"].features
