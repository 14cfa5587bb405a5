"""The instruction optimisation loop: propose, screen, score with a trial editor, keep the best, repeat.

Round 0 scores the seed, the task description (TASK_BRIEFS, or `description`). Each later round asks the
proposer for `candidates_per_round` new instructions, giving it the description and the `show_top` best so
far with their scores; the screened proposals (candidates.py) are scored and join the pool. When the
proposer fails or yields nothing usable, the rule-based proposer fills in (`fallback`). The loop stops
after `patience` rounds in a row without a better best score, or after round `rounds`.

Score. The trial editor, a fixed, trained instruct-mode editor, edits every record of a validation slice
with the candidate as its free-text instruction (zero-shot: it never trained on it), and
`evaluation.evaluate` measures Reliability, Generalization and Locality (token accuracies, 0-1). The
combined score is their weighted mean, unweighted by default (weights 1, 1, 1):

    score = (w_R * Reliability + w_G * Generalization + w_L * Locality) / (w_R + w_G + w_L)

A metric the slice has no data for is left out of both sums. It ranks like the trainer's validation
score (R + G + L). The slice is the last `val_records` records of the task's *train* split (or of the
`data` file), never the test split. The current catalog's description 0 is scored on the same slice as the
reference the result is compared with; it is not a candidate.

Files in `out_dir`: `log.jsonl` (a start line, then one line per finished round, appended and fsynced; a
rerun with the same settings resumes after the last finished round, and may raise `rounds`), and, written
atomically at the end, `instructions.json`, `result.json` and `summary.md`. `instructions.json` is an
instruction-set file usable in place of the catalog: every other task as in the base catalog; for this
task the 9 best candidates as the seen descriptions 0-8 (0 = best) and the 10th best as the held-out
unseen description 9 (a scored, comparably good instruction the editor never trains on). With fewer than
10 usable candidates the missing slots keep the base catalog's descriptions (reported in the result).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from instructedit.data.records import TASKS
from instructedit.instructions import CATALOG, N_SEEN, TASK_NAMES, UNSEEN_INDEX, Instruction, load_instruction_set
from instructedit.io import atomic_write_json, atomic_write_text
from workbench.instruction_search.candidates import REQUIRED_PLACEHOLDERS, clean, content_words, dedupe_key, screen
from workbench.instruction_search.proposers import (PROPOSERS, Proposer, ProposalRequest, ProposerError, ProposerOptions, RuleBasedProposer,
                        Scored, make_proposer)
from workbench.instruction_search.summary import METRICS, combined, summary_markdown

log = logging.getLogger(__name__)

LOG_FILE, SET_FILE, RESULT_FILE, SUMMARY_FILE = "log.jsonl", "instructions.json", "result.json", "summary.md"
TASK_BRIEFS = {
    "counterfact": "Edit a stored fact so that the model completes a sentence about the subject with a new, "
                   "counterfactual object.",
    "recent": "Add a fact that became true after the model was trained, so that the model completes a "
              "statement about the subject with the recent answer.",
    "convsent": "Change the model's opinion so that when asked about [TOPIC] it answers with a [LABEL] sentiment.",
    "zsre": "Change the answer to a factual question about an entity so that the model replies with the new answer.",
}
Scorer = Callable[[str], dict]   # instruction text -> {"reliability": .., "generalization": .., "locality": ..}


@dataclass
class SearchConfig:
    """One search. Fields listed in IDENTITY must match when a run resumes from its log."""

    task: str
    editor: str
    out_dir: str
    proposer: str = "rule"
    data: str | None = None               # records file; default: the task's train split
    format: str | None = None             # data format; default: the task's
    model: str | None = None              # base model spec; default: the editor's
    description: str | None = None        # the task description; default: TASK_BRIEFS[task]
    instruction_set: str | None = None    # base catalog file; default: the built-in catalog
    val_records: int = 30
    rounds: int = 4
    candidates_per_round: int = 5
    patience: int = 2
    show_top: int = 4
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    batch_size: int = 8
    seed: int = 0
    fallback: bool = True
    proposer_options: ProposerOptions = field(default_factory=ProposerOptions)

    IDENTITY = ("task", "editor", "data", "format", "model", "description", "instruction_set", "val_records",
                "weights")

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.proposer not in PROPOSERS:
            raise ValueError(f"proposer must be one of {', '.join(PROPOSERS)}, got {self.proposer!r}")
        for name in ("editor", "out_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty path")
        for name, low in (("val_records", 1), ("rounds", 0), ("candidates_per_round", 1), ("patience", 1),
                          ("show_top", 1), ("batch_size", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {getattr(self, name)!r}")
        self.weights = tuple(float(w) for w in self.weights)
        if len(self.weights) != 3 or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError(f"weights must be 3 non-negative numbers (Reliability, Generalization, Locality) "
                             f"with a positive sum, got {self.weights}")
        if self.data is not None and not Path(self.data).is_file():
            raise FileNotFoundError(f"data: {self.data} is not a file; pass a records file or leave it out")
        if isinstance(self.proposer_options, dict):
            self.proposer_options = ProposerOptions(**self.proposer_options)

    @property
    def brief(self) -> str:
        return self.description or TASK_BRIEFS[self.task]

    def identity(self) -> dict:
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v for name in self.IDENTITY}


def source_records(config: SearchConfig) -> list:
    """All the task's records the slice is cut from: the train split, or those in `data`."""
    from instructedit.data.loaders import detect_file_format, load_records
    from instructedit.data.tasks import load_split

    if config.data:
        fmt = detect_file_format(config.data, config.format)
        records = [r for r in load_records(config.data, fmt, skip_invalid=True) if r.task == config.task]
    else:
        records = load_split(config.task, "train")
    if not records:
        raise ValueError(f"data: no {config.task} records found in {config.data or 'the train split'}")
    return records


def validation_slice(config: SearchConfig) -> list:
    """The last `val_records` records of the task's train split (or of `data`)."""
    return source_records(config)[-config.val_records:]


class TrialScorer:
    """Scores an instruction: the trial editor's metrics on the validation slice with that instruction."""

    def __init__(self, model, tokenizer, editor, records: list, batch_size: int = 8):
        if not editor.uses_instructions:
            raise ValueError(f"editor: the trial editor must be an instruct-mode editor, this one is "
                             f"{editor.config.mode!r}; use e.g. assets/editors/instructedit")
        self.model, self.tokenizer, self.editor, self.records = model, tokenizer, editor, records
        self.batch_size = batch_size
        self.record_ids = [f"{r.task}/{r.record_id}" for r in records]

    @classmethod
    def from_config(cls, config: SearchConfig) -> "TrialScorer":
        from instructedit.editor.editor import CONFIG_FILE, Editor
        from instructedit.models.loading import load_model

        info_path = Path(config.editor) / CONFIG_FILE
        if not info_path.is_file():
            raise FileNotFoundError(f"editor: {config.editor} is not an editor directory (no {CONFIG_FILE}); "
                                    "pass one, e.g. assets/editors/instructedit")
        spec = config.model or json.loads(info_path.read_text(encoding="utf-8")).get("model") or "smollm2-135m"
        model, tokenizer = load_model(spec)
        return cls(model, tokenizer, Editor.load(config.editor, model), validation_slice(config), config.batch_size)

    def __call__(self, text: str) -> dict:
        from instructedit.evaluation.evaluate import evaluate

        result = evaluate(self.model, self.tokenizer, self.editor, self.records, Instruction(text=text),
                          batch_size=self.batch_size, generation_metrics=False, progress=False)
        summary = next(iter(result["summary"].values()), {})
        return {m: summary[m]["mean"] for m in METRICS if m in summary} | {"n": summary.get("n", 0)}


class SearchLog:
    """The JSON-lines log: read (dropping a torn last line), append with fsync."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> tuple[dict | None, list[dict]]:
        if not self.path.is_file():
            return None, []
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            log.warning("%s: dropping an unfinished last line (interrupted write)", self.path)
            text = text[: text.rfind("\n") + 1]
            atomic_write_text(self.path, text)
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.path}, line {number}: not JSON ({err}); fix or remove the log") from err
        start = next((e for e in entries if e.get("event") == "start"), None)
        return start, [e for e in entries if e.get("event") == "round"]

    def append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class InstructionSearch:
    """The loop. `scorer` and `proposer` default to the ones the config names (injectable for tests)."""

    def __init__(self, config: SearchConfig, scorer: Scorer | None = None, proposer: Proposer | None = None):
        self.config = config
        self.out = Path(config.out_dir)
        self.log = SearchLog(self.out / LOG_FILE)
        self.base = dict(CATALOG) | (load_instruction_set(config.instruction_set) if config.instruction_set else {})
        self._scorer = scorer
        self.proposer = proposer or make_proposer(config.proposer, config.proposer_options)
        self.fallback = RuleBasedProposer() if config.fallback and self.proposer.kind != "rule" else None
        self.pool: list[dict] = []
        self.seen: set[str] = set()
        self.rounds: list[dict] = []
        self.stale = 0
        self.reference: dict | None = None
        self.topic_words = content_words(config.brief, TASK_NAMES.get(config.task, config.task))

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = TrialScorer.from_config(self.config)
        return self._scorer

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> dict:
        start, finished = self.log.read()
        if start is None:
            start = self._start()
            self.log.append(start)
        else:
            self._check_identity(start)
            log.info("resuming %s after round %d", self.log.path, finished[-1]["round"] if finished else -1)
        self.reference = start.get("reference")
        for entry in finished:
            self._replay(entry)
        while (reason := self.stop_reason()) is None:
            entry = self._round(self.rounds[-1]["round"] + 1 if self.rounds else 0)
            self.log.append(entry)
            self._replay(entry)
            log.info("round %d: %d scored, %d rejected, best %.4f", entry["round"], len(entry["candidates"]),
                     len(entry["rejected"]), self.ranking()[0]["score"] if self.pool else float("nan"))
        return self.finish(reason)

    def stop_reason(self) -> str | None:
        if not self.rounds:
            return None
        if self.stale >= self.config.patience:
            return f"no improvement in {self.config.patience} round(s)"
        if self.rounds[-1]["round"] >= self.config.rounds:
            return f"round limit ({self.config.rounds}) reached"
        return None

    def _start(self) -> dict:
        text = self.base[self.config.task][0]
        reference = self._score(text, [])
        return {"event": "start", "identity": self.config.identity(), "proposer": self.config.proposer,
                "records": getattr(self.scorer, "record_ids", None), "reference": reference,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def _check_identity(self, start: dict) -> None:
        saved, now = start.get("identity", {}), self.config.identity()
        for name in self.config.IDENTITY:
            if saved.get(name) != now[name]:
                raise ValueError(f"{self.log.path} was written by a search with {name}={saved.get(name)!r}, "
                                 f"not {now[name]!r}; use another out_dir or remove the log to start over")

    def _round(self, number: int) -> dict:
        started = time.perf_counter()
        best_before = self.ranking()[0]["score"] if self.pool else -math.inf
        errors, used, accepted, rejected = [], [], [], []
        if number == 0:
            used, screened = ["seed"], screen([self.config.brief], self.config.task, self.seen)
            accepted, rejected = screened.accepted, screened.rejected
        else:
            request = self._request(number)
            for proposer in filter(None, (self.proposer, self.fallback)):
                used.append(proposer.kind)
                screened = screen(self._ask(proposer, request, errors), self.config.task, self.seen,
                                  limit=self.config.candidates_per_round, topic_words=self.topic_words)
                accepted, rejected = screened.accepted, rejected + screened.rejected
                if accepted:
                    break
        scored = [c for c in (self._score(t, rejected) for t in accepted) if c is not None]
        for c in scored:
            c["round"] = number
        best = max((c["score"] for c in scored), default=-math.inf)
        return {"event": "round", "round": number, "proposers": used, "candidates": scored, "rejected": rejected,
                "errors": errors, "improved": best > best_before + 1e-12,
                "elapsed_s": round(time.perf_counter() - started, 2)}

    def _request(self, number: int) -> ProposalRequest:
        top = self.ranking()[: self.config.show_top]
        return ProposalRequest(
            task=self.config.task, task_name=TASK_NAMES.get(self.config.task, self.config.task),
            description=self.config.brief, n=self.config.candidates_per_round, round=number, seed=self.config.seed,
            best=tuple(Scored(c["text"], c["score"], {m: c.get(m) for m in METRICS}) for c in top),
            avoid=tuple(c["text"] for c in self.pool),
            placeholders=REQUIRED_PLACEHOLDERS.get(self.config.task, ()))

    def _ask(self, proposer: Proposer, request: ProposalRequest, errors: list) -> list[str]:
        started = time.perf_counter()
        try:
            return proposer.propose(request)
        except (ProposerError, ValueError, RuntimeError, OSError) as err:
            log.warning("proposer %s failed: %s", proposer.kind, err)
            errors.append({"proposer": proposer.kind, "error": f"{err.__class__.__name__}: {err}",
                           "after_s": round(time.perf_counter() - started, 2)})
            return []

    def _score(self, text: str, rejected: list) -> dict | None:
        try:
            metrics = self.scorer(text)
        except ValueError as err:
            rejected.append({"text": text, "reason": f"could not be scored: {err}"})
            return None
        score = combined(metrics, self.config.weights)
        if score is None:
            rejected.append({"text": text, "reason": "could not be scored: no record gave a metric"})
            return None
        return {"text": text, **{k: metrics.get(k) for k in (*METRICS, "n")}, "score": score}

    def _replay(self, entry: dict) -> None:
        for c in entry["candidates"]:
            self.pool.append({**c, "order": len(self.pool)})
            self.seen.add(dedupe_key(c["text"]))
        for r in entry["rejected"]:
            if r["reason"] != "over the per-round limit" and clean(r["text"]):
                self.seen.add(dedupe_key(clean(r["text"])))
        if entry["round"] > 0:
            self.stale = 0 if entry["improved"] else self.stale + 1
        self.rounds.append(entry)

    def ranking(self) -> list[dict]:
        return sorted(self.pool, key=lambda c: (-c["score"], c["round"], c["order"]))

    # ---- outputs --------------------------------------------------------------------------------
    def instruction_set(self) -> tuple[dict[str, list[str]], list[int]]:
        """The full instruction set and the indices of this task's slots kept from the base catalog."""
        ranked = [c["text"] for c in self.ranking()][: UNSEEN_INDEX + 1]
        base = list(self.base[self.config.task])
        taken = {dedupe_key(t) for t in ranked}
        seen, kept = ranked[:N_SEEN], list(range(min(len(ranked), N_SEEN), N_SEEN))
        seen += [t for t in base[:N_SEEN] if dedupe_key(t) not in taken][: len(kept)]
        if len(ranked) > UNSEEN_INDEX:
            unseen = ranked[UNSEEN_INDEX]
        else:
            kept.append(UNSEEN_INDEX)
            spare = [t for t in base[UNSEEN_INDEX:] + base[N_SEEN - 1::-1]
                     if t not in seen and dedupe_key(t) not in taken]
            unseen = spare[0] if spare else base[UNSEEN_INDEX]
        return {t: list(v) for t, v in self.base.items()} | {self.config.task: seen + [unseen]}, kept

    def finish(self, reason: str) -> dict:
        instruction_set, kept = self.instruction_set()
        atomic_write_json(self.out / SET_FILE, instruction_set)
        load_instruction_set(self.out / SET_FILE)  # the file must load where the catalog is accepted
        ranking = [{k: v for k, v in c.items() if k != "order"} for c in self.ranking()]
        best = ranking[0] if ranking else None
        result = {
            "task": self.config.task, "proposer": self.config.proposer, "stopped": reason,
            "rounds_run": self.rounds[-1]["round"] if self.rounds else 0,
            "score": "weighted mean of reliability, generalization, locality; weights "
                     + ", ".join(f"{w:g}" for w in self.config.weights),
            "best": best, "reference": self.reference,
            "best_minus_reference": (best["score"] - self.reference["score"]) if best and self.reference else None,
            "n_scored": len(ranking), "n_rejected": sum(len(r["rejected"]) for r in self.rounds),
            "proposer_errors": sum(len(r["errors"]) for r in self.rounds),
            "fallback_rounds": [r["round"] for r in self.rounds if len(r["proposers"]) > 1],
            "slots_from_base_catalog": kept, "instruction_set": SET_FILE, "top10": ranking[:10],
            "config": asdict(self.config),
        }
        atomic_write_json(self.out / RESULT_FILE, result)
        atomic_write_text(self.out / SUMMARY_FILE, summary_markdown(result, self.rounds))
        log.info("stopped (%s); wrote %s, %s, %s in %s", reason, SET_FILE, RESULT_FILE, SUMMARY_FILE, self.out)
        return result
