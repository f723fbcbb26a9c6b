"""Built-in base models that need no hub: build a tokenizer and a model from a config.

``builtin:tiny-gpt2`` is a 2-layer GPT-2 (about 0.1M parameters) with a
byte-level BPE tokenizer trained on the run's own training text. It trains in
seconds on two CPU cores, which is what tests, the demo and a laptop need.
Byte-level BPE decodes back to the exact text (no stray spaces), so the
evaluation suites can match answers exactly.
"""

from __future__ import annotations

EOS = "<|endoftext|>"
PAD = "<pad>"
# A minimal chat template so chat-format data works with the preset too.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
PRESETS = {
    "tiny-gpt2": {"n_layer": 2, "n_head": 4, "n_embd": 64, "vocab_size": 1024},
}


def build_preset(name: str, texts: list[str], max_length: int, seed: int):
    """(tokenizer, model) for preset ``name``, the tokenizer trained on ``texts``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    spec = PRESETS[name]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=spec["vocab_size"], min_frequency=1, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD,
                                        unk_token=EOS, model_max_length=max_length)
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=max(128, max_length), n_embd=spec["n_embd"],
                        n_layer=spec["n_layer"], n_head=spec["n_head"], bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    return tokenizer, model
