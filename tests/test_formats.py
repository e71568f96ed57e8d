"""Chat formats: round trips, what TRL and LLaMA-Factory read, and chat-template rendering with a
real `transformers` tokenizer built here (no download)."""

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import needs
from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.formats import convert, for_map
from ultrachat_dataset.training.template import TEMPLATE_COLUMNS

turn = st.text(min_size=1, max_size=20)
dialogues = st.lists(st.lists(turn, min_size=1, max_size=4).map(lambda t: t * 2 if len(t) % 2 else t)
                     .filter(lambda t: len(t) % 2 == 0), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(dialogues)
def test_raw_messages_sharegpt_messages_raw_is_the_identity(data):
    raw = pa.table({"id": [str(i) for i in range(len(data))], "data": data})
    back = convert(convert(convert(convert(raw, "messages"), "sharegpt"), "messages"), "raw")
    assert back.to_pylist() == raw.to_pylist()


@settings(max_examples=100, deadline=None)
@given(dialogues, st.text(min_size=1, max_size=10))
def test_a_system_prompt_survives_the_round_trip(data, system):
    raw = pa.table({"id": [str(i) for i in range(len(data))], "data": data})
    messages = convert(raw, "messages", system=system)
    again = convert(convert(messages, "sharegpt"), "messages")
    assert again.to_pylist() == messages.to_pylist()
    assert convert(again, "raw").to_pylist() == raw.to_pylist()


def trl_accepts(row) -> bool:
    """TRL's conversational format: `messages`, each {role, content}, roles system/user/assistant."""
    messages = row["messages"]
    return isinstance(messages, list) and bool(messages) and all(
        set(m) == {"role", "content"} and m["role"] in {"system", "user", "assistant"}
        and isinstance(m["content"], str) for m in messages)


def llama_factory_accepts(row) -> bool:
    """LLaMA-Factory's sharegpt format (its dataset_info defaults: conversations, from/value,
    human/gpt, optional `system` column): human at odd positions (1-based), gpt at even ones."""
    turns = row["conversations"]
    if not turns or len(turns) % 2:
        return False
    return all(t["from"] == ("human" if i % 2 == 0 else "gpt") and isinstance(t["value"], str)
               for i, t in enumerate(turns)) and isinstance(row.get("system", ""), (str, type(None)))


def sample_table():
    return pa.table({"id": ["a", "b"], "sector": ["world", "writing"],
                     "data": [["Hi?", "Hello."], ["Write a poem.", "Roses.", "Shorter?", "Red."]]})


def test_trl_and_llama_factory_readers_accept_the_converted_rows():
    for system in (None, "You are helpful."):
        messages = convert(sample_table(), "messages", system=system)
        assert all(trl_accepts(row) for row in messages.to_pylist())
        sharegpt = convert(sample_table(), "sharegpt", system=system)
        assert all(llama_factory_accepts(row) for row in sharegpt.to_pylist())
        assert ("system" in sharegpt.column_names) == (system is not None)
        assert sharegpt.column("sector").to_pylist() == ["world", "writing"]  # other columns kept


def test_dataset_map_with_arrow_and_dict_batches():
    import datasets
    ds = datasets.Dataset(sample_table())
    arrow = ds.with_format("arrow").map(for_map("sharegpt"), batched=True,
                                        remove_columns=["data"]).with_format(None)
    plain = ds.map(for_map("sharegpt"), batched=True, remove_columns=["data"])
    assert arrow.to_list() == plain.to_list()
    assert plain[1]["conversations"][2] == {"from": "human", "value": "Shorter?"}


def test_unknown_format_and_sharegpt_roles_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown format 'alpaca'"):
        convert(sample_table(), "alpaca")
    bad = pa.table({"conversations": [[{"from": "bot", "value": "x"}]]})
    with pytest.raises(ConfigError, match="'from': 'bot'"):
        convert(bad, "messages")


# ---- chat templates ---------------------------------------------------------------------

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n"
            "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}"
            "{% else %}{{ m['content'] }}<|end|>{% endif %}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


@pytest.fixture(scope="module")
def tokenizer():
    needs("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = ["<unk>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["Hi ? Hello . Write a poem about the sea . Roses are red , violets blue . Shorter ?",
              "You are helpful . Tell me more about tides in the Atlantic ocean please now"]
    words.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="<unk>", eos_token="<|end|>")
    fast.add_special_tokens({"additional_special_tokens": specials[1:]})
    fast.chat_template = TEMPLATE
    return fast


def run_cli(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def prepared_folder(tmp_path_factory):
    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs, sample_dir
    out = tmp_path_factory.mktemp("conv") / "ultrachat"
    prepare(local_inputs("writing", sample_dir()), out, "writing", progress=False)
    return out


def test_convert_cli_folder_to_sharegpt_and_file_to_jsonl(prepared_folder, tmp_path):
    import json

    import pyarrow.parquet as pq
    result = run_cli("convert", str(prepared_folder), str(tmp_path / "sg"), "--to", "sharegpt",
                     "--system", "Be brief.")
    assert result.returncode == 0, result.stderr
    for original in prepared_folder.glob("data/**/*.parquet"):
        converted = pq.read_table(tmp_path / "sg" / original.relative_to(prepared_folder))
        assert converted.num_rows == pq.ParquetFile(original).metadata.num_rows
        assert all(llama_factory_accepts(row) and row["system"] == "Be brief."
                   for row in converted.to_pylist())
    train = next(prepared_folder.glob("data/writing/train-*.parquet"))
    result = run_cli("convert", str(train), str(tmp_path / "raw.jsonl"), "--to", "raw")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "raw.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"key", "id", "data"} and len(rows) == pq.ParquetFile(train).metadata.num_rows


def test_convert_cli_renders_a_chat_template(prepared_folder, tokenizer, tmp_path):
    import pyarrow.parquet as pq
    tokenizer.save_pretrained(tmp_path / "tok")
    train = next(prepared_folder.glob("data/writing/train-*.parquet"))
    result = run_cli("convert", str(train), str(tmp_path / "t.parquet"), "--to", "template",
                     "--tokenizer", str(tmp_path / "tok"), "--max-tokens", "200")
    assert result.returncode == 0, result.stderr[-2000:]
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == list(TEMPLATE_COLUMNS)
    assert max(len(ids) for ids in table.column("input_ids").to_pylist()) <= 200
    assert table.num_rows >= pq.ParquetFile(train).metadata.num_rows


# ---- converted folders stay datasets; files are files ------------------------------------

@pytest.fixture(scope="module")
def prepared_all(tmp_path_factory):
    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs, sample_dir
    out = tmp_path_factory.mktemp("conv-all") / "ultrachat"
    prepare(local_inputs("all", sample_dir()), out, "all", progress=False)
    return out


def load_offline(folder, config, **options):
    import os
    import subprocess
    import sys
    code = ("import datasets, json, sys; ds = datasets.load_dataset(sys.argv[1], sys.argv[2], "
            "**json.loads(sys.argv[3])); print(json.dumps({s: [d.num_rows, list(d.features)] "
            "for s, d in (ds.items() if hasattr(ds, 'items') else [('one', ds)])}))")
    result = subprocess.run([sys.executable, "-c", code, str(folder), config, json.dumps(options)],
                            capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                                 "HF_HOME": str(folder.parent / ".hf")})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("to, column", [("sharegpt", "conversations"), ("messages", "messages"),
                                        ("raw", "data")])
def test_a_converted_folder_loads_by_config_offline(prepared_all, tmp_path, to, column):
    target = tmp_path / f"ultrachat-{to}"
    result = run_cli("convert", str(prepared_all), str(target), "--to", to, "--system", "Be brief.")
    assert result.returncode == 0, result.stderr[-2000:]
    for config in ("all", "writing"):
        source = load_offline(prepared_all, config)
        converted = load_offline(target, config)
        assert {s: n for s, (n, _) in converted.items()} == {s: n for s, (n, _) in source.items()}
        assert column in converted["train"][1] and "key" in converted["train"][1]
    assert (target / ".ultrachat-dataset.json").is_file()


def test_a_folder_into_a_jsonl_file_is_one_json_lines_file_of_one_split(prepared_all, tmp_path):
    result = run_cli("convert", str(prepared_all), str(tmp_path / "out.jsonl"), "--to", "sharegpt",
                     "--config", "writing", "--split", "test")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out.jsonl").is_file()
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    expected = load_offline(prepared_all, "writing")["test"][0]
    assert len(rows) == expected > 0 and all(llama_factory_accepts(row) for row in rows)
    assert {row["key"].split(":")[0] for row in rows} <= {"ultrachat_material_release_230412.json",
                                                        "ultrachat_material_release_230417.json"}
    assert not list(tmp_path.glob(".*partial"))


def test_llama_factory_reads_each_split_of_the_sharegpt_folder_through_its_dataset_info(prepared_all,
                                                                                        tmp_path):
    import os

    import datasets
    target = tmp_path / "sg"
    assert run_cli("convert", str(prepared_all), str(target), "--to", "sharegpt", "--system",
                   "Be brief.").returncode == 0
    info = json.loads((target / "dataset_info.json").read_text())
    assert set(info) == {f"ultrachat_{c}_{s}" for c in ("all", "world", "writing", "assistance")
                         for s in ("train", "test")}
    keys = {}
    for name, entry in info.items():
        # As LLaMA-Factory's loader does for a `script_url` entry, with dataset_dir = the folder.
        assert entry["formatting"] == "sharegpt" and entry["columns"]["messages"] == "conversations"
        rows = datasets.load_dataset(os.path.join(str(target), entry["script_url"]), name=entry["subset"],
                                     split=entry["split"])
        tags = entry["tags"]
        for row in rows:
            turns = row[entry["columns"]["messages"]]
            assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]] * (
                len(turns) // 2)
            assert row[entry["columns"]["system"]] == "Be brief."
        keys[name] = set(rows["key"])
    for config in ("all", "world", "writing", "assistance"):
        assert keys[f"ultrachat_{config}_train"] and keys[f"ultrachat_{config}_test"]
        assert keys[f"ultrachat_{config}_train"].isdisjoint(keys[f"ultrachat_{config}_test"])


def test_converting_a_folder_onto_itself_is_refused_and_leaves_it_as_it_is(prepared_all, tmp_path):
    before = sorted(p.name for p in prepared_all.rglob("*"))
    for target in (prepared_all, prepared_all / "sharegpt"):
        result = run_cli("convert", str(prepared_all), str(target), "--to", "sharegpt")
        assert result.returncode == 2 and "convert into another folder" in result.stderr
    assert sorted(p.name for p in prepared_all.rglob("*")) == before
