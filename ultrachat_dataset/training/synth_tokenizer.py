"""A small byte-level BPE chat tokenizer trained on the spot, for tests and benchmarks where no
model can be downloaded: white space and newlines are tokens, as in GPT-2/Qwen/Llama-3 tokenizers,
and the chat templates' control tokens are special tokens. Needs `transformers` (the chat extra).
"""

from __future__ import annotations

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
                  "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def train_chat_tokenizer(texts: list[str], chat_template: str, vocab_size: int = 1500):
    """A `PreTrainedTokenizerFast` learnt from `texts`, with `chat_template` set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|begin_of_text|>",
                                        eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = chat_template
    return tokenizer
