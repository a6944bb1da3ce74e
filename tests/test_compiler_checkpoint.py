"""`s4d compile` on a float checkpoint: exported on the fly in a child process, then mapped and simulated."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("lava")

from test_data import needs_mnist  # noqa: E402


@pytest.mark.slow
@pytest.mark.lava
@needs_mnist  # calibration reads the task's training split
def test_compile_a_checkpoint_exports_it_on_the_fly(tmp_path):
    from s4d_jax.checkpoint import save_params
    from s4d_jax.config import ModelConfig
    from s4d_jax.model import init_params

    config = ModelConfig(d_model=4, d_state=4, n_layers=1)
    model = save_params(tmp_path / "params", config, init_params(config), {"task": "smnist"})
    done = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(model), "--simulate", "1",
                           "--mode", "fall-through", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == str(model) and result["bit_exact"] is True and result["simulated_sequences"] == 1
