"""`python app.py`: launch settings, the server name/port from the environment, nothing loaded at start-up."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from app_support import ROOT, free_port, load_app_module


def test_launch_settings(app_settings):
    module = load_app_module()
    demo = module.build_demo(app_settings)
    assert demo.analytics_enabled is False
    options = module.launch_options()
    assert options["ssr_mode"] is False and options["share"] is False and options["show_error"] is False
    assert "theme" in options and "css" in options  # Gradio 6: given to launch(), not Blocks()
    edit = next(fn for fn in demo.fns.values() if fn.api_name == "edit")
    assert edit.concurrency_limit >= 2
    assert not demo.instructedit_state.model_loaded  # building the app loads no model
    assert "HF_HUB_OFFLINE" not in (ROOT / "app.py").read_text()


def test_python_app_py_honours_server_env(app_env):
    port = free_port()
    env = {**os.environ, **app_env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and proc.poll() is None and status != 200:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        assert status == 200, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no answer"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
