"""The README's training code, run as printed with the real trainers on a tiny model built here
(no download): TRL's `SFTTrainer` on the prepared folder, and transformers' `Trainer` with our
collator on `convert --to template` output. Each trains a few steps, and the labels it trains on
cover exactly the assistant turns.

Two changes to the README's code, both said here: the model name becomes the tiny model's folder,
and the trainer's config gets `max_steps=3` (a few steps, not an epoch) and `use_cpu=True` (the
README's is for a GPU: SFTConfig trains in bf16 by default, which it refuses on a CPU without it)."""

import re
from pathlib import Path

import datasets
import pytest
from test_template import CHATML

from conftest import needs
from ultrachat_dataset.prepare.pipeline import prepare
from ultrachat_dataset.release.sources import local_inputs, sample_dir
from ultrachat_dataset.training.convert import convert_path
from ultrachat_dataset.training.synth_tokenizer import train_chat_tokenizer

README = Path(__file__).resolve().parent.parent / "README.md"
END = "<|im_end|>"  # CHATML's end of turn, inside its {% generation %} span


def readme_python(marker: str) -> str:
    """The README's Python block that holds `marker`."""
    [block] = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if marker in b]
    return block


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The prepared sample as `ultrachat/` and a tiny causal LM with a marked ChatML template."""
    needs("torch")
    transformers = needs("transformers")
    work = tmp_path_factory.mktemp("trainers")
    prepare(local_inputs("all", sample_dir()), work / "ultrachat", "all", progress=False)
    rows = datasets.load_dataset(str(work / "ultrachat"), "writing", split="train")
    tokenizer = train_chat_tokenizer([m["content"] for r in rows.select(range(200)) for m in r["messages"]],
                                     CHATML)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=8192, pad_token_id=tokenizer.pad_token_id,
                                      eos_token_id=tokenizer.eos_token_id)
    transformers.LlamaForCausalLM(config).save_pretrained(work / "tiny-model")
    tokenizer.save_pretrained(work / "tiny-model")
    return work


def assistant_text(messages: list[dict]) -> str:
    return "".join(m["content"] + END for m in messages if m["role"] == "assistant")


def labelled_text(tokenizer, labels) -> str:
    return tokenizer.decode([int(token) for token in labels if token != -100])


def test_trl_sft_trainer_as_the_readme_prints_it(workdir, monkeypatch):
    needs("trl")
    code = readme_python("SFTTrainer")
    code = code.replace('"Qwen/Qwen2.5-0.5B"', repr(str(workdir / "tiny-model")))
    code = code.replace("SFTConfig(", "SFTConfig(max_steps=3, use_cpu=True, ")
    monkeypatch.chdir(workdir)
    scope = {}
    exec(code, scope)  # the README's block: loads ./ultrachat, builds the trainer, trains
    trainer, ds = scope["trainer"], scope["ds"]
    assert trainer.state.global_step == 3
    # What TRL trains on: its own collator over its own tokenized rows, in dataset order.
    features = [trainer.train_dataset[index] for index in range(8)]
    batch = trainer.data_collator(features)
    tokenizer = trainer.processing_class
    checked = 0
    for index, labels in enumerate(batch["labels"].tolist()):
        expected = assistant_text(ds["train"][index]["messages"])
        if len(features[index]["input_ids"]) < trainer.args.max_length:  # not truncated
            assert labelled_text(tokenizer, labels) == expected
            checked += 1
    assert checked >= 4  # most of the batch is whole dialogues: the check is not vacuous
    streamed = datasets.load_dataset("./ultrachat", "all", split="train", streaming=True)
    assert list(streamed.select_columns(["messages"]).take(1))[0].keys() == {"messages"}


def test_transformers_trainer_with_our_collator_as_the_readme_prints_it(workdir, monkeypatch):
    transformers = needs("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(workdir / "tiny-model")
    model = transformers.AutoModelForCausalLM.from_pretrained(workdir / "tiny-model")
    convert_path(workdir / "ultrachat", workdir / "rendered.parquet", "template", tokenizer=tokenizer,
                 max_tokens=512, config="writing")
    code = readme_python("AssistantLabelsCollator(tokenizer)")
    code = code.replace("TrainingArguments(", "TrainingArguments(max_steps=3, use_cpu=True, ")
    monkeypatch.chdir(workdir)
    scope = {"model": model, "tokenizer": tokenizer}
    exec(code, scope)
    trainer, rendered = scope["trainer"], scope["rendered"]
    assert trainer.state.global_step == 3
    messages = {row["key"]: row["messages"] for row in
                datasets.load_dataset("./ultrachat", "writing", split="train")}
    whole = [row for row in rendered.select(range(64)) if row["piece"] == 0 and not row["truncated"]
             and row["num_turns"] == len(messages[row["key"]])]
    assert whole
    batch = trainer.data_collator(whole[:8])
    for row, labels in zip(whole, batch["labels"].tolist()):
        assert labelled_text(tokenizer, labels) == assistant_text(messages[row["key"]])
