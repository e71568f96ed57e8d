"""Chat-template rendering: masks token-identical to transformers' `return_assistant_tokens_mask`
on ChatML, Qwen2.5-style and Llama-3-style templates (written here, with a byte-level BPE
tokenizer trained here), pieces that say what they hold, and text that is what the ids cover."""

import pyarrow.parquet as pq
import pytest

from conftest import needs
from ultrachat_dataset.training.synth_tokenizer import train_chat_tokenizer
from ultrachat_dataset.training.template import is_marked, render_batch, render_dialogues

needs("transformers")

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
          "{% if message['role'] == 'assistant' %}{% generation %}"
          "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
          "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
# Qwen2.5-style training template: a default system prompt, and the marker before the newline.
QWEN25 = ("{% if messages[0]['role'] == 'system' %}{{ '<|im_start|>system\\n' + messages[0]['content'] "
          "+ '<|im_end|>\\n' }}{% else %}"
          "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
          "{% endif %}{% for message in messages %}{% if message['role'] == 'user' %}"
          "{{ '<|im_start|>user\\n' + message['content'] + '<|im_end|>\\n' }}"
          "{% elif message['role'] == 'assistant' %}{{ '<|im_start|>assistant' }}{% generation %}"
          "{{ '\\n' + message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% endif %}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3 = ("{{ bos_token }}{% for message in messages %}"
          "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
          "{% if message['role'] == 'assistant' %}{% generation %}"
          "{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
          "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
          "{% endif %}")
MARKED = {"chatml": CHATML, "qwen2.5": QWEN25, "llama3": LLAMA3}
def unmarked(template: str) -> str:
    return template.replace("{% generation %}", "").replace("{% endgeneration %}", "")


@pytest.fixture(scope="module")
def dialogues(tmp_path_factory):
    """A few hundred prepared dialogues, some with a system prompt."""
    from ultrachat_dataset.formats import convert
    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs
    from ultrachat_dataset.release.synth import synthesize
    folder = tmp_path_factory.mktemp("template")
    synthesize(folder / "release", dialogues=400, seed=9, length_scale=0.3)
    prepare(local_inputs("all", folder / "release"), folder / "out", "all", progress=False)
    table = pq.read_table(sorted((folder / "out" / "data" / "world").glob("train-*.parquet"))[0])
    rows = table.to_pylist()
    with_system = convert(table.slice(0, 50), "messages", system="Answer in English.").to_pylist()
    return [row["messages"] for row in with_system] + [row["messages"] for row in rows[50:300]]


def make_tokenizer(template: str, texts: list[str]):
    return train_chat_tokenizer(texts, template)


@pytest.fixture(scope="module")
def tokenizers(dialogues):
    texts = [m["content"] for d in dialogues[:100] for m in d]
    return {name: make_tokenizer(template, texts) for name, template in MARKED.items()}


def transformers_masks(tokenizer, dialogues):
    """What transformers itself gives, one dialogue at a time (as a naive `Dataset.map` does)."""
    return [tokenizer.apply_chat_template(d, return_dict=True, return_assistant_tokens_mask=True)
            for d in dialogues]


@pytest.mark.parametrize("name", list(MARKED))
def test_on_a_marked_template_the_masks_are_transformers_own(tokenizers, dialogues, name):
    tokenizer = tokenizers[name]
    assert is_marked(tokenizer)
    ours = [pieces[0] for pieces in render_dialogues(tokenizer, dialogues)]
    for piece, reference in zip(ours, transformers_masks(tokenizer, dialogues), strict=True):
        assert piece.input_ids == reference["input_ids"]
        assert piece.assistant_mask == reference["assistant_masks"]


@pytest.mark.parametrize("name", ["chatml", "llama3"])
def test_without_markers_the_mask_is_the_marked_templates_token_for_token(tokenizers, dialogues, name):
    marked = tokenizers[name]
    plain = make_tokenizer(unmarked(MARKED[name]), [m["content"] for d in dialogues[:100] for m in d])
    assert not is_marked(plain)
    ours = [pieces[0] for pieces in render_dialogues(plain, dialogues)]
    reference = transformers_masks(marked, dialogues)
    assert sum(sum(r["assistant_masks"]) for r in reference) > 0
    for piece, expected in zip(ours, reference, strict=True):
        assert piece.input_ids == expected["input_ids"]
        assert piece.assistant_mask == expected["assistant_masks"]


def test_the_masked_tokens_are_the_answers_and_their_end_of_turn(tokenizers, dialogues):
    tokenizer = tokenizers["chatml"]
    [[piece]] = render_dialogues(tokenizer, dialogues[:1])
    masked = tokenizer.decode([t for t, m in zip(piece.input_ids, piece.assistant_mask) if m])
    answers = [m["content"] + "<|im_end|>" for m in dialogues[0] if m["role"] == "assistant"]
    assert masked == "".join(answers)


@pytest.mark.parametrize("name", list(MARKED))
def test_pieces_hold_whole_exchanges_and_text_is_what_the_ids_cover(tokenizers, dialogues, name):
    tokenizer = tokenizers[name]
    max_tokens = 300
    for messages, pieces in zip(dialogues, render_dialogues(tokenizer, dialogues, max_tokens)):
        system = [m for m in messages[:1] if m["role"] == "system"]
        turns = messages[len(system):]
        assert [p.first_turn for p in pieces] == sorted({p.first_turn for p in pieces})
        assert sum(p.num_turns for p in pieces) == len(turns)  # every turn in exactly one piece
        for piece in pieces:
            assert len(piece.input_ids) == len(piece.assistant_mask) <= max_tokens
            held = system + turns[piece.first_turn:piece.first_turn + piece.num_turns]
            [whole] = render_dialogues(tokenizer, [held])[0]
            if piece.truncated:  # the first tokens of the piece, and exactly the text they cover
                assert whole.input_ids[:max_tokens] == piece.input_ids
                assert whole.assistant_mask[:max_tokens] == piece.assistant_mask
                assert whole.text.startswith(piece.text)
                offsets = tokenizer(whole.text, add_special_tokens=False,
                                    return_offsets_mapping=True)["offset_mapping"]
                assert len(piece.text) == offsets[max_tokens - 1][1]
            else:
                assert piece.num_turns % 2 == 0 and (piece.input_ids, piece.text) == (
                    whole.input_ids, whole.text)
                assert tokenizer(piece.text, add_special_tokens=False)["input_ids"] == piece.input_ids
    assert any(len(p) > 1 for p in render_dialogues(tokenizer, dialogues, max_tokens))


def test_render_batch_names_the_dialogue_and_the_turns_of_every_piece(tokenizers, dialogues):
    batch = {"key": [f"k{i}" for i in range(20)], "id": ["0"] * 20, "messages": dialogues[:20]}
    out = render_batch(tokenizers["llama3"], batch, max_tokens=200)
    assert len(out["key"]) > 20 and any(out["truncated"])
    pieces = {}
    for key, number in zip(out["key"], out["piece"]):
        pieces.setdefault(key, []).append(number)
    assert list(pieces) == batch["key"]  # in order, every dialogue
    assert all(numbers == list(range(len(numbers))) for numbers in pieces.values())


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_labels_collator_trains_on_the_assistant_tokens_only(tokenizers, dialogues, side,
                                                                monkeypatch):
    from ultrachat_dataset.training.template import AssistantLabelsCollator
    tokenizer = tokenizers["chatml"]
    monkeypatch.setattr(tokenizer, "padding_side", side)
    features = render_batch(tokenizer, {"id": ["a", "b", "c"], "messages": dialogues[:3]})
    rows = [{"input_ids": ids, "assistant_masks": mask}
            for ids, mask in zip(features["input_ids"], features["assistant_masks"])]
    batch = AssistantLabelsCollator(tokenizer, return_tensors="np", pad_to_multiple_of=8)(rows)
    assert batch["input_ids"].shape == batch["labels"].shape and batch["input_ids"].shape[1] % 8 == 0
    for row, feature in enumerate(rows):
        real = batch["attention_mask"][row].astype(bool)
        assert real.sum() == len(feature["input_ids"]) and bool(real[-1] if side == "left" else real[0])
        assert batch["input_ids"][row][real].tolist() == feature["input_ids"]
        expected = [t if m else -100 for t, m in zip(feature["input_ids"], feature["assistant_masks"])]
        assert batch["labels"][row][real].tolist() == expected
        assert (batch["labels"][row][~real] == -100).all()
        assert (batch["input_ids"][row][~real] == tokenizer.pad_token_id).all()
