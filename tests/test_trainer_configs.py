"""The trainer configs the README shows, read from the README and checked against the rules each
trainer enforces on the data (field names, role tags, positions), on folders made as the README
says. The trainers themselves need torch and a model, which CI does not have: their rules are
restated here from their code (LLaMA-Factory's `SharegptDatasetConverter`, axolotl's
`ChatTemplatePrompter` defaults, TRL's conversational check)."""

import os
import re
from pathlib import Path

import datasets
import pytest
import yaml

from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs, sample_dir
from ultrachat_dataset.training.convert import convert_path

README = Path(__file__).resolve().parent.parent / "README.md"
# axolotl's default role names (ChatTemplatePrompter, no `roles:` in the config)
AXOLOTL_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "gpt": "assistant",
                 "system": "system", "tool": "tool"}


def readme_yamls(marker: str) -> list[dict]:
    """The YAML blocks of the README whose first line starts with the comment `marker`."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    return [yaml.safe_load(b) for b in blocks if b.startswith(f"# {marker}")]


def readme_yaml(marker: str) -> dict:
    [block] = readme_yamls(marker)
    return block


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """`ultrachat/` (prepared) and `ultrachat-sharegpt/` (converted), as the README makes them."""
    work = tmp_path_factory.mktemp("train")
    prepare(local_inputs("all", sample_dir()), work / "ultrachat", "all", progress=False)
    convert_path(work / "ultrachat", work / "ultrachat-sharegpt", "sharegpt", system="You are helpful.")
    return work


def alternates(roles: list[str]) -> bool:
    body = roles[1:] if roles and roles[0] == "system" else roles
    return bool(body) and body == ["user", "assistant"] * (len(body) // 2)


def test_the_llama_factory_config_of_the_readme(workdir):
    import json
    config = readme_yaml("llamafactory-cli")
    dataset_dir = workdir / config["dataset_dir"]
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    keys = {}
    for name in (config["dataset"], config["eval_dataset"]):
        entry = info[name]
        # LLaMA-Factory's loader for a `script_url` entry
        rows = datasets.load_dataset(os.path.join(dataset_dir, entry["script_url"]), name=entry.get("subset"),
                                     split=entry.get("split", "train"))
        tags, columns = entry["tags"], entry["columns"]
        accept = [tags["user_tag"], tags["assistant_tag"]]  # odd positions human, even gpt
        for row in rows:
            turns = row[columns["messages"]]
            assert all(turn[tags["role_tag"]] == accept[i % 2] for i, turn in enumerate(turns))
            assert len(turns) % 2 == 0 and all(isinstance(t[tags["content_tag"]], str) for t in turns)
            assert row[columns["system"]] == "You are helpful."
        keys[name] = set(rows["key"])
    assert keys[config["dataset"]] and keys[config["eval_dataset"]]
    assert keys[config["dataset"]].isdisjoint(keys[config["eval_dataset"]])


def test_the_axolotl_configs_of_the_readme(workdir):
    configs = readme_yamls("axolotl")
    assert len(configs) == 2
    # Each is a whole `datasets:` of one entry: two entries would train on every dialogue twice.
    assert all(len(config["datasets"]) == 1 for config in configs)
    for [entry] in (config["datasets"] for config in configs):
        assert entry["type"] == "chat_template"
        rows = datasets.load_dataset(str(workdir / entry["path"]), entry["name"], split=entry["split"])
        field = entry.get("field_messages", "messages")
        mapping = entry.get("message_property_mappings") or {"role": "role", "content": "content"}
        assert rows.num_rows > 0
        for row in rows:
            messages = row[field]
            roles = [AXOLOTL_ROLES[message[mapping["role"]]] for message in messages]
            assert alternates(roles) and all(isinstance(m[mapping["content"]], str) for m in messages)


def test_trl_reads_the_prepared_folder_as_conversational(workdir):
    rows = datasets.load_dataset(str(workdir / "ultrachat"), "writing", split="train")
    for row in rows:  # TRL's is_conversational: a `messages` list of {role, content}
        assert alternates([m["role"] for m in row["messages"]])
        assert all(set(m) == {"role", "content"} for m in row["messages"])
