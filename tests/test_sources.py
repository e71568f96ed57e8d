"""The registry of release files, and local copies found under their release names."""

import gzip

import pytest

from ultrachat_dataset.errors import ConfigError, SourceError
from ultrachat_dataset.release.sources import find_local, release_files


def touch(directory, *names):
    for name in names:
        (directory / name).write_bytes(b"")


def test_every_sector_has_its_tsinghua_files():
    assert [f.name for f in release_files("writing", "tsinghua")] == [
        "ultrachat_material_release_230412.json", "ultrachat_material_release_230417.json"]
    assert len(release_files("all", "tsinghua")) == 4
    assert all(f.url.startswith("https://cloud.tsinghua.edu.cn/f/") and f.url.endswith("/?dl=1")
               for f in release_files("all", "tsinghua"))
    assert all(f.sha256 is None and f.size is None for f in release_files("all", "tsinghua"))


def test_hub_files_have_no_sector_so_only_all_is_offered():
    assert [f.name for f in release_files("all", "hub")] == [f"train_{i}.jsonl" for i in range(10)]
    with pytest.raises(ConfigError, match="sector labels.*use config 'all'"):
        release_files("writing", "hub")


def test_unknown_config_is_named():
    with pytest.raises(ConfigError, match="unknown config 'chat'.*all, world, writing, assistance"):
        release_files("chat", "tsinghua")


def test_local_files_found_plain_or_gzipped(tmp_path):
    touch(tmp_path, "ultrachat_material_release_230412.json",
          "ultrachat_material_release_230417.json.gz")
    found = find_local(tmp_path, "writing")
    assert [f.path.name for f in found] == ["ultrachat_material_release_230412.json",
                                            "ultrachat_material_release_230417.json.gz"]


def test_partial_local_release_names_what_is_missing(tmp_path):
    touch(tmp_path, "ultrachat_material_release_230412.json")
    with pytest.raises(SourceError, match="lacks ultrachat_material_release_230417.json"):
        find_local(tmp_path, "writing")


def test_local_hub_shards_serve_all_but_tsinghua_files_win(tmp_path):
    touch(tmp_path, *[f"train_{i}.jsonl" for i in range(10)])
    assert len(find_local(tmp_path, "all")) == 10
    with pytest.raises(SourceError, match="holds the Hub copy.*no sector: use config 'all'"):
        find_local(tmp_path, "world")
    touch(tmp_path, "ultrachat_release_230407.json", "ultrachat_material_release_230412.json",
          "ultrachat_material_release_230417.json", "ultrachat_existent_material_release_230420.json")
    assert {f.release.origin for f in find_local(tmp_path, "all")} == {"tsinghua"}


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(SourceError, match="nowhere does not exist"):
        find_local(tmp_path / "nowhere", "all")


def test_two_copies_of_one_release_file_are_an_error_naming_both(tmp_path):
    name = "ultrachat_release_230407.json"
    (tmp_path / name).write_text('{"id": "1", "data": ["a", "b"]}\n')  # a cut copy, say
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(b'{"id": "1", "data": ["a", "b"]}\n' * 2))
    with pytest.raises(SourceError, match=f"two copies of {name}: {name} and {name}.gz"):
        find_local(tmp_path, "world")


def test_all_on_a_partial_release_names_the_sector_configs_that_would_work(tmp_path):
    (tmp_path / "ultrachat_release_230407.json").write_text("")  # the world sector, whole
    (tmp_path / "ultrachat_material_release_230412.json").write_text("")  # half of writing
    with pytest.raises(SourceError) as error:
        find_local(tmp_path, "all")
    message = str(error.value)
    assert ("lacks ultrachat_material_release_230417.json, ultrachat_existent_material_release_230420.json"
            in message)
    assert message.endswith("or prepare the sector config it holds whole: 'world' "
                            "(`ultrachat prepare world ...`)")
    (tmp_path / "ultrachat_material_release_230417.json").write_text("")
    with pytest.raises(SourceError, match="configs it holds whole: 'world' or 'writing'"):
        find_local(tmp_path, "all")
    assert [found.path.name for found in find_local(tmp_path, "writing")] == [
        "ultrachat_material_release_230412.json", "ultrachat_material_release_230417.json"]
