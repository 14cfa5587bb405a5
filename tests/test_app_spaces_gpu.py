"""On a ZeroGPU Space the `spaces` package exists: the GPU handlers are wrapped with spaces.GPU.

A real (stand-in) `spaces` package on PYTHONPATH records what it wraps; the import runs in a subprocess so
that this test process keeps the plain handlers.
"""
import json
import os
import subprocess
import sys
import textwrap

STAND_IN = textwrap.dedent('''
    WRAPPED = []

    def GPU(duration=60):
        def wrap(fn):
            WRAPPED.append((fn.__name__, duration))
            fn.zero_gpu = True
            return fn
        return wrap
''')
PROBE = textwrap.dedent('''
    import json, spaces
    from workbench.ui.handlers import Handlers
    print(json.dumps({"wrapped": spaces.WRAPPED, "edit": getattr(Handlers.edit, "zero_gpu", False),
                      "example": getattr(Handlers.example, "zero_gpu", False)}))
''')


def test_gpu_handlers_are_wrapped_when_spaces_exists(tmp_path):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "__init__.py").write_text(STAND_IN)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["edit"] and result["example"]
    assert sorted(name for name, _ in result["wrapped"]) == ["edit", "example"]
    assert all(duration >= 60 for _, duration in result["wrapped"])
