"""Proposers write candidate instructions; one small interface, three kinds (the PROPOSERS registry).

- `openai`: any OpenAI-compatible chat-completions endpoint (`<base_url>/chat/completions`), through
  urllib (no extra dependency), with a per-request timeout and retries; the API key is read from the
  environment variable named by `api_key_env` (no header is sent when it is unset, for local servers).
- `local`: a local chat model (default: the project's default model, SmolLM2-135M-Instruct) with its chat
  template; one instruction per generation, sampled (seeded) or greedy with a different style hint each;
  of each reply it keeps the first sentence that shares a content word with the task description.
- `rule`: deterministic rewrites of the task description and the current best instructions, for tests
  and as the fallback when another proposer fails.

A proposer returns raw texts; `candidates.screen` cleans and filters them. Failures raise ProposerError.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from workbench.instruction_search.candidates import MAX_CANDIDATE_CHARS, clean, content_words, dedupe_key

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_000_000
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’»]*\s+")
STYLE_HINTS = ("Keep it short and direct.", "Mention what the model should answer after the edit.",
               "Say what must stay unchanged.", "Use plain, everyday words.", "Start with a verb.",
               "Name the kind of knowledge being changed.")


class ProposerError(RuntimeError):
    """A proposer could not deliver (endpoint down, timed out, malformed reply, model failed to load)."""


@dataclass(frozen=True)
class Scored:
    """An instruction already scored, shown to the proposer as an example."""

    text: str
    score: float
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProposalRequest:
    """What a proposer is asked: `n` new instructions for `task`, given its description and the best so far."""

    task: str
    task_name: str
    description: str
    n: int
    round: int = 1
    seed: int = 0
    best: tuple[Scored, ...] = ()
    avoid: tuple[str, ...] = ()          # texts already tried (the rule-based proposer skips them)
    placeholders: tuple[str, ...] = ()   # placeholders every instruction must contain


@dataclass(frozen=True)
class ProposerOptions:
    """Settings of every proposer kind; each kind reads the ones it needs."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None             # endpoint model name, or local model spec (default smollm2-135m)
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    temperature: float = 0.8
    max_new_tokens: int = 60

    def __post_init__(self):
        if self.timeout_s <= 0:
            raise ValueError(f"proposer timeout_s must be > 0 seconds, got {self.timeout_s}")
        if self.retries < 0:
            raise ValueError(f"proposer retries must be >= 0, got {self.retries}")
        if self.temperature < 0:
            raise ValueError(f"proposer temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.max_new_tokens < 8:
            raise ValueError(f"proposer max_new_tokens must be >= 8, got {self.max_new_tokens}")


def messages(request: ProposalRequest, n: int | None = None, hint: str = "") -> list[dict]:
    """The chat prompt: the task, its description, the best instructions with their scores, the ask."""
    n = request.n if n is None else n
    lines = [f"Task: {request.task_name}.", f"What the task does: {request.description}"]
    if request.best:
        lines.append("Instructions tried so far, best first (score 0-1, higher is better):")
        lines += [f'- "{b.text}" (score {b.score:.2f})' for b in request.best]
    ask = "one new instruction" if n == 1 else f"{n} new instructions, one per line, without numbering"
    lines.append(f"Write {ask} for this task: a single imperative sentence each, under "
                 f"{MAX_CANDIDATE_CHARS} characters, different from the ones above.")
    if request.placeholders:
        lines.append(f"Each must contain the placeholders {' and '.join(request.placeholders)} literally.")
    if hint:
        lines.append(hint)
    lines.append("Reply with the instruction text only.")
    system = "You write short, clear task instructions for a knowledge-editing system."
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


class Proposer(ABC):
    kind: ClassVar[str]

    def __init__(self, options: ProposerOptions | None = None):
        self.options = options or ProposerOptions()

    @abstractmethod
    def propose(self, request: ProposalRequest) -> list[str]:
        """Raw proposals (to be screened); raises ProposerError when none can be had."""


class OpenAIProposer(Proposer):
    """An OpenAI-compatible chat-completions endpoint."""

    kind = "openai"
    RETRYABLE = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, ProposerError)

    def propose(self, request: ProposalRequest) -> list[str]:
        body = {"model": self.options.model or "default", "messages": messages(request),
                "temperature": self.options.temperature, "max_tokens": self.options.max_new_tokens * request.n}
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._parse(self._post(body))
            except urllib.error.HTTPError as err:
                if 400 <= err.code < 500 and err.code != 429:
                    raise ProposerError(f"{self._url()} refused the request: HTTP {err.code} {err.reason} "
                                        "(check the model name and the API key variable)") from err
                failure = f"HTTP {err.code} {err.reason}"
            except self.RETRYABLE as err:
                failure = f"{err.__class__.__name__}: {err}"
            log.warning("proposer %s attempt %d/%d failed: %s", self.kind, attempt, attempts, failure)
            if attempt < attempts:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 1))
        raise ProposerError(f"{self._url()} failed {attempts} time(s), last: {failure}")

    def _url(self) -> str:
        return self.options.base_url.rstrip("/") + "/chat/completions"

    def _post(self, body: dict) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.options.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self._url(), data=json.dumps(body).encode("utf-8"), headers=headers,
                                     method="POST")
        with urllib.request.urlopen(req, timeout=self.options.timeout_s) as response:
            return response.read(MAX_RESPONSE_BYTES)

    @staticmethod
    def _parse(raw: bytes) -> list[str]:
        try:
            data = json.loads(raw.decode("utf-8"))
            contents = [choice["message"]["content"] for choice in data["choices"]]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ProposerError(f"malformed chat-completions reply ({err.__class__.__name__}): "
                                f"{raw[:200]!r}") from err
        texts = [line for content in contents if isinstance(content, str) for line in content.splitlines()]
        if not any(t.strip() for t in texts):
            raise ProposerError("the chat-completions reply holds no text")
        return texts


class LocalModelProposer(Proposer):
    """A local chat model (default: SmolLM2-135M-Instruct), loaded once on first use."""

    kind = "local"

    def __init__(self, options: ProposerOptions | None = None, model=None, tokenizer=None):
        super().__init__(options)
        self._model, self._tokenizer = model, tokenizer

    def _load(self):
        if self._model is None:
            from instructedit.models.loading import DEFAULT_MODEL, load_model

            try:
                self._model, self._tokenizer = load_model(self.options.model or DEFAULT_MODEL)
            except (ValueError, OSError, ModuleNotFoundError) as err:
                raise ProposerError(f"local proposer model could not be loaded: {err}") from err
        return self._model, self._tokenizer

    def _encode(self, chat: list[dict]):
        import torch

        tokenizer = self._tokenizer
        if getattr(tokenizer, "chat_template", None):
            encoded = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
            return encoded["input_ids"], encoded["attention_mask"]
        text = "\n".join(f"{m['role'].title()}: {m['content']}" for m in chat) + "\nAssistant:"
        ids = torch.tensor([tokenizer(text).input_ids])
        return ids, torch.ones_like(ids)

    def propose(self, request: ProposalRequest) -> list[str]:
        import torch

        model, tokenizer = self._load()
        greedy = self.options.temperature == 0
        texts = []
        for i in range(request.n):
            hint = STYLE_HINTS[(request.round * request.n + i) % len(STYLE_HINTS)]
            ids, mask = self._encode(messages(request, n=1, hint=hint))
            sampling = {} if greedy else {"do_sample": True, "temperature": self.options.temperature, "top_p": 0.95}
            try:
                with torch.random.fork_rng(), torch.no_grad():
                    torch.manual_seed(request.seed * 100_003 + request.round * 101 + i)
                    out = model.generate(ids, attention_mask=mask, max_new_tokens=self.options.max_new_tokens,
                                         pad_token_id=tokenizer.pad_token_id, **({"do_sample": False} | sampling))
            except (RuntimeError, ValueError) as err:
                raise ProposerError(f"local proposer generation failed: {err}") from err
            texts.append(self._pick(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True), request))
        return texts

    @staticmethod
    def _pick(reply: str, request: ProposalRequest) -> str:
        """One instruction from a small model's chatty reply: its first on-topic sentence (else the reply)."""
        topic = content_words(request.description, request.task_name)
        sentences = [clean(s) for line in reply.splitlines() for s in _SENTENCE_END.split(clean(line))]
        return next((s for s in sentences if s and content_words(s) & topic), reply)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _first_clause(text: str) -> str:
    for mark in (", so ", ": ", "; ", ", "):
        if mark in text:
            return text.split(mark, 1)[0].rstrip(".") + "."
    return text


# (marker, rewrite): a rewrite is not applied to a text that already carries its marker (no stacking)
REWRITES = (
    ("", lambda x, name: x),
    ("leave unrelated", lambda x, name: f"{x.rstrip('.')}. Leave unrelated knowledge unchanged."),
    (" edit:", lambda x, name: f"{name} edit: {_lower_first(x)}"),
    ("carefully", lambda x, name: f"Carefully {_lower_first(x)}"),
    ("", lambda x, name: _first_clause(x)),
    ("new target", lambda x, name: f"{x.rstrip('.')}, and answer with the new target."),
    ("your job", lambda x, name: f"Your job: {_lower_first(x)}"),
    ("as a knowledge editor", lambda x, name: f"As a knowledge editor, {_lower_first(x)}"),
)


class RuleBasedProposer(Proposer):
    """Deterministic rewrites (REWRITES) of the best instructions so far, then of the task description."""

    kind = "rule"

    def propose(self, request: ProposalRequest) -> list[str]:
        sources = [b.text for b in request.best] + [request.description]
        avoid = {dedupe_key(t) for t in request.avoid}
        texts: list[str] = []
        start = request.round % len(REWRITES)
        for source in sources:
            for k in range(len(REWRITES)):
                marker, rewrite = REWRITES[(start + k) % len(REWRITES)]
                if marker and marker in source.casefold():
                    continue
                text = self._complete(rewrite(source, request.task_name), request)
                if dedupe_key(text) not in avoid and len(text) <= MAX_CANDIDATE_CHARS:
                    avoid.add(dedupe_key(text))
                    texts.append(text)
                if len(texts) == request.n:
                    return texts
        return texts

    @staticmethod
    def _complete(text: str, request: ProposalRequest) -> str:
        missing = [p for p in request.placeholders if p not in text]
        if missing:
            text = f"{text.rstrip('.')} ({' and '.join(missing)})."
        return text


PROPOSERS: dict[str, type[Proposer]] = {
    cls.kind: cls for cls in (OpenAIProposer, LocalModelProposer, RuleBasedProposer)}


def make_proposer(kind: str, options: ProposerOptions | None = None) -> Proposer:
    if kind not in PROPOSERS:
        raise ValueError(f"proposer must be one of {', '.join(PROPOSERS)}, got {kind!r}")
    return PROPOSERS[kind](options)
