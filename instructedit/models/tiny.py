"""Tiny randomly initialised GPT-2 and Llama models with an offline byte-level BPE tokenizer (fast tests)."""
from __future__ import annotations

import functools

import torch

TINY_CORPUS = (
    "The capital of France is Paris. The capital of Germany is Berlin. The Eiffel Tower is in Paris. "
    "Task: CounterFact Description: Edit the fact. Input: Danielle Darrieux's mother tongue is French. "
    "What do you think of jazz? I love it. I hate it. The winner of the 2024 race was Tadej Pogacar. "
    "nq question: who wrote hamlet? William Shakespeare. Rome Italy London England Tokyo Japan 0123456789"
)


@functools.lru_cache(maxsize=1)
def tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE trained in a fraction of a second: any text tokenises, nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TINY_CORPUS] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token="<|endoftext|>"
    )


def _gpt2_config(vocab: int, layers: int, dim: int, special: int):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab, n_positions=512, n_embd=dim, n_layer=layers, n_head=4,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="sdpa",
                      bos_token_id=special, eos_token_id=special, pad_token_id=special)


def _llama_config(vocab: int, layers: int, dim: int, special: int):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=dim, intermediate_size=dim * 2 + dim // 2,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=512, tie_word_embeddings=True, attn_implementation="sdpa",
                       bos_token_id=special, eos_token_id=special, pad_token_id=special)


TINY_CONFIGS = {"gpt2": _gpt2_config, "llama": _llama_config}


def tiny_model(family: str = "llama", layers: int = 2, dim: int = 64, seed: int = 0):
    """(model, tokenizer): a randomly initialised `family` model, seeded, frozen, in eval mode."""
    from transformers import AutoModelForCausalLM

    if family not in TINY_CONFIGS:
        raise ValueError(f"unknown tiny family {family!r}; expected one of {', '.join(TINY_CONFIGS)}")
    tokenizer = tiny_tokenizer()
    config = TINY_CONFIGS[family](len(tokenizer), layers, dim, tokenizer.eos_token_id)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.requires_grad_(False).eval()
    return model, tokenizer
