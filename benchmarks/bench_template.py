"""Chat-template rendering with assistant masks: `ultrachat convert --to template` against the
TRL-style naive way, side by side on one corpus, with a tokenizer built here.

    uv run python benchmarks/bench_template.py --dialogues 20000

Prepares a synthesized corpus once (kept under bench-data/), trains a byte-level BPE tokenizer
on it (ChatML template with {% generation %} markers), then, each in a fresh process, renders
every training dialogue of config `all`:
  ultrachat:  convert_path(folder, file.parquet, "template")  (batched apply_chat_template)
  naive:      Dataset.map(lambda row: tokenizer.apply_chat_template(row["messages"],
              return_dict=True, return_assistant_tokens_mask=True))  (one dialogue a call)
  tokenize:   the floor: the rendered texts through the tokenizer in one batch, nothing else
checks that both give the same ids and masks, and prints the ratios (target >= 10x).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import corpus, in_child, print_side_by_side, timed

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
          "{% if message['role'] == 'assistant' %}{% generation %}"
          "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
          "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def run(method: str, folder: Path, tokenizer_dir: Path, out: Path) -> int:
    import datasets
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from ultrachat_dataset.layout import split_files
    from ultrachat_dataset.training.convert import convert_path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if method == "ultrachat":
        convert_path(folder, out, "template", tokenizer=tokenizer, config="all", split="train")
        return pq.ParquetFile(out).metadata.num_rows
    files = [str(path) for path in split_files(folder, "all", "train")]
    if method == "tokenize":
        messages = [row for path in files for row in pq.read_table(path, columns=["messages"])
                    .column("messages").to_pylist()]
        texts = tokenizer.apply_chat_template(messages, tokenize=False)
        return len(tokenizer(texts, add_special_tokens=False)["input_ids"])
    ds = datasets.load_dataset("parquet", data_files=files, split="train",
                               cache_dir=str(out.parent / "hf-cache"))
    rendered = ds.map(lambda row: tokenizer.apply_chat_template(
        row["messages"], return_dict=True, return_assistant_tokens_mask=True),
        remove_columns=ds.column_names)
    rendered.to_parquet(str(out))
    return rendered.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=20_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, folder, tokenizer_dir, out = args.child
        print(json.dumps(timed(lambda: run(method, Path(folder), Path(tokenizer_dir), Path(out)))))
        return
    source = corpus(None, args.dialogues, 0, {}, "template")
    folder = source.parent / f"{source.name}-prepared"
    if not (folder / "README.md").exists():
        from ultrachat_dataset.prepare.pipeline import prepare
        from ultrachat_dataset.release.sources import local_inputs
        print(f"preparing {source} into {folder} ...", flush=True)
        prepare(local_inputs("all", source), folder, "all")
    tokenizer_dir = source.parent / f"{source.name}-tokenizer"
    if not (tokenizer_dir / "tokenizer.json").exists():
        import pyarrow.parquet as pq

        from ultrachat_dataset.layout import split_files
        from ultrachat_dataset.training.synth_tokenizer import train_chat_tokenizer
        sample = pq.read_table(split_files(folder, "all", "train")[0], columns=["messages"]).slice(0, 2000)
        texts = [m["content"] for row in sample.column("messages").to_pylist() for m in row]
        train_chat_tokenizer(texts, CHATML, vocab_size=8000).save_pretrained(tokenizer_dir)
    outputs = {m: source.parent / f"{source.name}-{m}.parquet" for m in ("ultrachat", "naive", "tokenize")}
    results = {m: in_child(__file__, m, str(folder), str(tokenizer_dir), str(outputs[m])) for m in outputs}
    same = _same_ids_and_masks(outputs["ultrachat"], outputs["naive"])
    print(f"folder: {folder}; tokenizer: {tokenizer_dir}")
    print_side_by_side(results, "naive", "dialogues")
    print(f"ids and masks equal to the naive way's: {same}")
    speedup = results["naive"]["seconds"] / results["ultrachat"]["seconds"]
    floor = results["naive"]["seconds"] / results["tokenize"]["seconds"]
    print(f"ultrachat vs naive: {speedup:.2f}x faster (target >= 10); the tokenizer alone caps it at "
          f"{floor:.2f}x")


def _same_ids_and_masks(ours: Path, naive: Path) -> bool:
    import pyarrow.parquet as pq
    mine = pq.read_table(ours, columns=["input_ids", "assistant_masks"])
    theirs = pq.read_table(naive, columns=["input_ids", "assistant_masks"])
    return (mine.num_rows == theirs.num_rows
            and mine.column("input_ids").to_pylist() == theirs.column("input_ids").to_pylist()
            and mine.column("assistant_masks").to_pylist() == theirs.column("assistant_masks").to_pylist())


if __name__ == "__main__":
    main()
