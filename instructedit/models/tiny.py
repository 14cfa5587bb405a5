"""Tiny randomly initialised causal LMs (GPT-2, Llama and the architectures of `_DISCOVERED`) with an offline byte-level BPE tokenizer (fast tests)."""
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


def _common(vocab: int, layers: int, dim: int, special: int) -> dict:
    """Arguments every causal-LM config accepts (sizes under their common names, SDPA attention)."""
    return dict(vocab_size=vocab, hidden_size=dim, num_hidden_layers=layers, num_attention_heads=4,
                max_position_embeddings=512, attn_implementation="sdpa",
                bos_token_id=special, eos_token_id=special, pad_token_id=special)


# architectures outside the family registry (found by `discovery.py`): config class, its own size names
_DISCOVERED = {
    "gptj": ("GPTJConfig", lambda d: dict(n_embd=d, n_layer=None, n_head=4, n_positions=512, rotary_dim=8,
                                          resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "gpt_neox": ("GPTNeoXConfig", lambda d: dict(intermediate_size=d * 3, rotary_pct=0.25, hidden_dropout=0.0,
                                                 attention_dropout=0.0)),
    "opt": ("OPTConfig", lambda d: dict(ffn_dim=d * 3, word_embed_proj_dim=d, dropout=0.0, attention_dropout=0.0)),
    "phi3": ("Phi3Config", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2, resid_pdrop=0.0,
                                          embd_pdrop=0.0, attention_dropout=0.0)),
    "gemma2": ("Gemma2Config", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2, head_dim=16,
                                              attn_implementation="eager",
                                              sliding_window=4)),
    "falcon": ("FalconConfig", lambda d: dict(new_decoder_architecture=False, multi_query=True, alibi=False,
                                              hidden_dropout=0.0, attention_dropout=0.0)),
    "mistral": ("MistralConfig", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2)),
    "qwen2": ("Qwen2Config", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2)),
    "starcoder2": ("Starcoder2Config", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2,
                                                      residual_dropout=0.0, embedding_dropout=0.0)),
    "olmo": ("OlmoConfig", lambda d: dict(intermediate_size=d * 3, num_key_value_heads=2)),
}


def _config_of(family: str):
    def build(vocab: int, layers: int, dim: int, special: int):
        import transformers

        class_name, own = _DISCOVERED[family]
        kwargs = {**_common(vocab, layers, dim, special), **own(dim)}
        if kwargs.get("n_layer", 0) is None:
            kwargs["n_layer"] = layers
        return getattr(transformers, class_name)(**kwargs)
    return build


TINY_CONFIGS = {"gpt2": _gpt2_config, "llama": _llama_config, **{name: _config_of(name) for name in _DISCOVERED}}


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
