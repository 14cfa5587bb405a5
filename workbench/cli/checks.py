"""Every command's input checks, run first, before any model is loaded (a model load takes half a minute).

Files exist and parse, a data file's format matches (detected by default; an explicit `--format` that does
not match names the file, the record and the field), editor folders are editors, numbers are in range,
instructions and instruction-set files parse. Each failure raises ValueError / FileNotFoundError naming the
flag and the fix; `main` prints it as one `ERROR` line and exits with code 2.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from instructedit.data.loaders import detect_file_format
from instructedit.data.records import RecordError
from instructedit.editor.files import EDITOR_FILES
from instructedit.editor.hub import editor_dir, is_hub_id
from instructedit.instructions import Instruction, load_instruction_set

DEFAULT_MODEL = "smollm2-135m"
EDITOR_FIX = ("pass a folder that `instructedit train` wrote (e.g. assets/editors/instructedit) or a Hub repo id "
              "(owner/name) that `Editor.push_to_hub` uploaded")
MAX_NEW_TOKENS = 512
# an edit's record fields -> the `edit` flags that set them (errors name the flag)
FIELD_FLAGS = {"prompt": "--prompt", "target": "--target", "subject": "--subject", "rephrases": "--rephrase",
               "locality": "--locality", "topic": "--topic", "label": "--label", "task": "--task"}


def at_least(value: int | None, flag: str, low: int = 1) -> None:
    if value is not None and value < low:
        raise ValueError(f"{flag} must be >= {low}, got {value}")


def in_range(value: int | None, flag: str, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{flag} must be between {low} and {high}, got {value}")


def _existing(path: str | Path, flag: str, folder: bool) -> Path:
    path = Path(path)
    if not (path.is_dir() if folder else path.is_file()):
        wanted, other = ("folder", "file") if folder else ("file", "folder")
        state = f"is a {other}, not a {wanted}" if path.exists() else "does not exist"
        raise FileNotFoundError(f"{flag}: {path} {state}")
    return path


def existing_file(path: str | Path, flag: str) -> Path:
    return _existing(path, flag, folder=False)


def existing_folder(path: str | Path, flag: str) -> Path:
    return _existing(path, flag, folder=True)


def not_a_file(path: str | Path | None, flag: str) -> None:
    """An output folder: it may not exist yet, but it must not be a file."""
    if path is not None and Path(path).is_file():
        raise ValueError(f"{flag}: {path} is a file; pass a folder")


def data_file(path: str | Path, fmt: str | None = None, flag: str = "--data") -> str:
    """The data file's format: detected, or `fmt` when every record is of it (else an error naming the file,
    the record and the telling field)."""
    existing_file(path, flag)
    try:
        return detect_file_format(path, fmt)
    except RecordError as err:
        hint = " (leave --format out to detect the format)" if fmt else ""
        raise ValueError(f"{flag}: {err}{hint}") from None


def hub_editor(source: str, flag: str = "--editor") -> Path:
    """The local snapshot of a Hub editor id (downloaded, or from the cache offline), or an error naming it."""
    try:
        return editor_dir(source)
    except (OSError, ValueError) as err:  # huggingface_hub's not-found and HTTP errors derive from these
        raise FileNotFoundError(f"{flag}: {source} is no folder here and could not be fetched from the Hugging "
                                f"Face Hub ({type(err).__name__}: {str(err).splitlines()[0]}); {EDITOR_FIX}") from None


def editor_folder(path: str | Path, flag: str = "--editor") -> str:
    """The model spec of an editor folder (its editor.json), after checking that it is one; a Hub repo id
    is fetched (or found in the cache) first."""
    folder = hub_editor(str(path), flag) if is_hub_id(path) else Path(path)
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{flag}: {path} {state}; {EDITOR_FIX}")
    missing = [name for name in EDITOR_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{flag}: {path} is not an editor folder (no {' or '.join(missing)} in it); "
                                f"{EDITOR_FIX}")
    config = folder / EDITOR_FILES[0]  # editor.json
    try:
        info = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{flag}: {config} is not valid editor JSON ({err})") from None
    if not isinstance(info, dict) or not isinstance(info.get("editor"), dict):
        raise ValueError(f"{flag}: {config} is not an editor config (no 'editor' object); {EDITOR_FIX}")
    return info.get("model") or DEFAULT_MODEL


def shared_model(editors: list[str], model: str | None = None, flag: str = "--editor") -> str:
    """The one base model spec of several editors (or `model`), each checked to be an editor folder."""
    specs = {editor: editor_folder(editor, flag) for editor in editors}
    if model:
        return model
    if len(set(specs.values())) > 1:
        listed = "; ".join(f"{editor}: {spec}" for editor, spec in specs.items())
        raise ValueError(f"{flag}: the editors were trained on different base models ({listed}); evaluate "
                         "editors of one base model per run")
    return next(iter(specs.values()))


def instruction(value: str | None, flag: str = "--instruction") -> Instruction:
    try:
        return Instruction.parse(value)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}; pass seen | unseen | none | 0-9 | a text") from None


def instruction_set(path: str | None, flag: str = "--instruction-set") -> dict | None:
    """The instruction-set file's catalog (None: the built-in one)."""
    if not path:
        return None
    existing_file(path, flag)
    try:
        return load_instruction_set(path)
    except (OSError, ValueError) as err:
        reason = str(err).removeprefix(f"{path}: ")
        raise ValueError(f"{flag}: {path} is not a usable instruction-set file ({reason}); pass a JSON object "
                         "mapping tasks to 10 descriptions, e.g. one `instructions optimize` wrote") from None


def known_names(values: list[str] | None, known, flag: str) -> None:
    unknown = [v for v in values or () if v not in known]
    if unknown:
        raise ValueError(f"{flag}: unknown {', '.join(unknown)}; expected some of {', '.join(known)}")


def figure_formats(formats: list[str], flag: str = "--format") -> None:
    from analysis.export import STATIC_FORMATS

    known_names(formats, ("html", *STATIC_FORMATS), flag)


def train_config(path: str, overrides: list[str]):
    """The validated TrainConfig of a YAML file with `--set` overrides; its data and instruction files checked."""
    import yaml

    from instructedit.training.config import TrainConfig

    existing_file(path, "--config")
    try:
        config = TrainConfig.from_yaml(path, overrides)
    except yaml.YAMLError as err:
        raise ValueError(f"--config: {path} is not valid YAML ({' '.join(str(err).split())})") from None
    for task, file in config.train_files.items():
        data_file(file, flag=f"--config train_files.{task}")
    instruction_set(config.instruction_set, "--config instruction_set")
    return config


# ---- per command: each command's run function calls its check first ------------------------------------

@dataclass
class Checked:
    """What a command's checks read and validated: the base model spec, records, catalog, instruction."""

    model: str
    records: list = field(default_factory=list)
    catalog: dict | None = None
    instruction: Instruction = field(default_factory=Instruction)


def eval_inputs(args) -> Checked:
    from instructedit.data.loaders import load_records
    from instructedit.data.tasks import load_split

    spec = shared_model(args.editor, args.model)
    at_least(args.limit, "--limit")
    at_least(args.batch_size, "--batch-size")
    chosen, catalog = instruction(args.instruction), instruction_set(args.instruction_set)
    if args.data:
        fmt = data_file(args.data, args.format)
        records = load_records(args.data, fmt, stop=args.limit, skip_invalid=True)
    else:
        if args.format:
            raise ValueError("--format names the format of --data; pass --data too, or leave --format out")
        records = load_split(args.task, "test")[: args.limit]
    if not records:
        raise ValueError(f"{args.data or args.task}: no valid records to evaluate")
    return Checked(spec, records, catalog, chosen)


def _edits_records(path: str, args, flag: str) -> list:
    from .edit_files import read_edit_file

    existing_file(path, flag)
    try:
        return read_edit_file(path, args.format, args.task, args.limit)
    except RecordError as err:
        hint = " (leave --format out to detect the format)" if args.format else ""
        raise ValueError(f"{flag}: {err}{hint}") from None


def _mode_available(mode: str) -> None:
    import importlib.util

    if mode == "sequential" and importlib.util.find_spec("instructedit.editor.sequence") is None:
        raise ValueError("sequential editing needs instructedit.editor.sequence (EditSequence), which this "
                         "installation lacks; use --batch or independent edits")


def edit_inputs(args) -> Checked:
    """`edit`: the records (of --file, or the one of --prompt/--target/...), modes, numbers, instructions."""
    from instructedit.data.records import EditRecord, Probe

    spec = editor_folder(args.editor)
    at_least(args.limit, "--limit")
    in_range(args.max_new_tokens, "--max-new-tokens", 1, MAX_NEW_TOKENS)
    _mode_available(args.mode)
    chosen, catalog = instruction(args.instruction), instruction_set(args.instruction_set)
    single = [args.prompt, args.target, args.subject, args.rephrase, args.locality, args.topic, args.label]
    if args.file:
        if any(value for value in single):
            raise ValueError("--file holds the edits: leave out --prompt/--target/--subject/--rephrase/"
                             "--locality/--topic/--label (or drop --file for one edit)")
        return Checked(args.model or spec, _edits_records(args.file, args, "--file"), catalog, chosen)
    if args.format or args.limit:
        raise ValueError("--format and --limit apply to --file; pass --file too")
    if args.prompt is None or args.target is None:
        raise ValueError("pass --prompt and --target (one edit) or --file (many edits)")
    try:
        record = EditRecord(task=args.task, prompt=args.prompt, target=args.target, subject=args.subject or "",
                            rephrases=tuple(args.rephrase or ()),
                            locality=tuple(Probe(p, a) for p, a in (args.locality or [])),
                            topic=args.topic or "", label=args.label or "")
    except RecordError as err:
        flag = FIELD_FLAGS.get(err.field_name.split("[")[0].split(".")[0], "the edit")
        raise ValueError(f"{flag}: {err.args[0].split(': ', 1)[-1]}") from None
    return Checked(args.model or spec, [record], catalog, chosen)


def ask_inputs(args) -> Checked:
    """`ask`: the edits file, the mode (independent only for one edit), numbers, instructions."""
    spec = editor_folder(args.editor)
    at_least(args.limit, "--limit")
    in_range(args.max_new_tokens, "--max-new-tokens", 1, MAX_NEW_TOKENS)
    _mode_available(args.mode)
    records = _edits_records(args.edits, args, "--edits")
    if args.mode == "independent" and len(records) > 1:
        raise ValueError(f"--mode independent applies one edit, but {args.edits} holds {len(records)}; use "
                         "--mode sequential or batch (or --limit 1)")
    for i, prompt in enumerate(args.prompt or ()):
        if not prompt.strip():
            raise ValueError(f"--prompt number {i + 1} is blank")
    return Checked(args.model or spec, records, instruction_set(args.instruction_set), instruction(args.instruction))


def analyze_inputs(args) -> str:
    """`analyze`: editor folders of one base model, known data sets and figure formats; the model spec."""
    from instructedit.data.tasks import dataset_names

    spec = shared_model(args.editors, args.model, "--editors")
    known_names(args.tasks, dataset_names(), "--tasks")
    figure_formats(args.format)
    instruction(args.instruction)
    not_a_file(args.out, "--out")
    return spec


def figures_inputs(args) -> None:
    from instructedit.paths import ASSETS_DIR

    existing_folder(args.results, "--results")
    if args.collect:
        folder = existing_folder(args.editors_dir or ASSETS_DIR / "editors", "--editors-dir")
        if not any((p / EDITOR_FILES[0]).is_file() for p in folder.iterdir()):
            raise ValueError(f"--editors-dir: {folder} holds no editor folders; {EDITOR_FIX}")
    elif not Path(args.directions).is_file():
        raise FileNotFoundError(f"--directions: {args.directions} does not exist; pass --collect to collect "
                                "the direction vectors first")
    at_least(args.n, "--n")
    figure_formats(args.format)
    not_a_file(args.out, "--out")


def reproduce_inputs(args):
    """Checks `reproduce`'s options; returns the shard (`--shard I/N`, the whole suite without it)."""
    from workbench.experiments.shards import Shard
    from workbench.experiments.suite import EDITORS, experiment_names

    known_names(args.editors, EDITORS, "--editors")
    known_names(args.experiments, experiment_names(), "--experiments")
    at_least(args.limit, "--limit")
    not_a_file(args.root, "--root")
    if args.shard is None:
        return Shard()
    try:
        return Shard.parse(args.shard)
    except ValueError as err:
        raise ValueError(f"--shard {args.shard}: {err}") from None


def sweep_inputs(args) -> None:
    from workbench.experiments import objective_sweep, step_sweep, sweep

    if args.objective and args.step:
        raise ValueError("--objective and --step are two sweeps; give one of them")
    variants = objective_sweep.VARIANTS if args.objective else step_sweep.VARIANTS if args.step else sweep.VARIANTS
    known_names(args.variants, variants, "--variants")
    not_a_file(args.root, "--root")


def optimize_inputs(config) -> None:
    """`instructions optimize`: the SearchConfig's editor, data file (format) and base instruction set."""
    editor_folder(config.editor)
    if config.data:
        data_file(config.data, config.format)
    instruction_set(config.instruction_set, "--file")
    if config.description is not None and not config.description.strip():
        raise ValueError("--description must not be blank")
    not_a_file(config.out_dir, "--out")


def compare_inputs(out: str) -> None:
    from workbench.instruction_search.loop import RESULT_FILE

    folder = existing_folder(out, "--out")
    if not (folder / RESULT_FILE).is_file():
        raise FileNotFoundError(f"--out: {out} has no {RESULT_FILE}; pass the folder of a finished search "
                                f"(`instructedit instructions optimize --out {out}` writes it)")
