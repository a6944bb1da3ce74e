"""The one-way house: s4d composes s4d_jax, compiler and zoo, which never import each other (pyproject.toml's
import-linter contracts), and the hardware half runs where JAX is not even installed."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("package", ["compiler", "zoo"])
def test_hardware_half_runs_without_jax(package):
    """Importing every module of the package with JAX, Flax and optax made unimportable."""
    code = f"""
import importlib, pkgutil, sys
for name in ("jax", "jaxlib", "flax", "optax", "orbax", "s4d_jax"):
    sys.modules[name] = None  # any import of these now raises ImportError
import {package}
for info in pkgutil.walk_packages({package}.__path__, "{package}."):
    if info.name.startswith("compiler.lava"):
        continue  # needs lava-nc, an optional extra
    importlib.import_module(info.name)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
