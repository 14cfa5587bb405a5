"""Greedy generation under an edit, n-gram-entropy fluency (ROME/EasyEdit) and lexicon sentiment (VADER)."""
from __future__ import annotations

import math
from collections import Counter
from contextlib import nullcontext

import torch

from ..editor.edit import Edit

FLUENCY_WEIGHTS = {2: 2 / 3, 3: 4 / 3}


@torch.no_grad()
def greedy_continuation(model, tokenizer, prompt: str, edit: Edit | None = None, max_new_tokens: int = 20) -> str:
    """The greedy continuation of `prompt` by the base model, or by the model as edited by `edit`."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(next(model.parameters()).device)
    with edit.applied(model) if edit is not None else nullcontext():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def ngram_entropy(text: str, weights: dict[int, float] = FLUENCY_WEIGHTS) -> float:
    """Weighted n-gram entropy (bigrams 2/3, trigrams 4/3, log2) as in ROME/EasyEdit; x100 by the caller's table."""
    tokens = text.split()
    total = 0.0
    for n, weight in weights.items():
        grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
        count = sum(grams.values())
        if count:
            total += weight * -sum(c / count * math.log2(c / count) for c in grams.values())
    return total / sum(weights.values())


def fluency(text: str) -> float:
    """n-gram entropy x 100, the scale of the paper's ConvSent Fluency (~600)."""
    return 100.0 * ngram_entropy(text)


def sentiment(text: str) -> float:
    """VADER compound score in [-1, 1] (offline lexicon)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
