"""Fixtures of the fault-injection suite (tiny models built once, a read-only mount, a full disk) and the
tally printed at the end of a run: "faults: N tried, N survived"."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faultkit import mounted  # noqa: E402

TALLY = {"tried": 0, "survived": 0, "skipped": {}}


def pytest_runtest_logreport(report):
    if "faults/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call":
        TALLY["tried"] += 1
        TALLY["survived"] += report.passed
    elif report.skipped:
        reason = str(report.longrepr[-1]).removeprefix("Skipped: ") if isinstance(report.longrepr, tuple) else "?"
        TALLY["skipped"][reason] = TALLY["skipped"].get(reason, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if TALLY["tried"] or TALLY["skipped"]:
        skipped = "; ".join(f"{n} skipped: {why}" for why, n in TALLY["skipped"].items())
        terminalreporter.write_line(f"faults: {TALLY['tried']} tried, {TALLY['survived']} survived"
                                    + (f" ({skipped})" if skipped else ""))


# ---------------------------------------------------------------- tiny models, built once per session

@dataclass(frozen=True)
class World:
    params: Path      # float params directory (s4d_jax), task smnist, 1 input channel
    export: Path      # its exported model (s4d_jax.export)
    hw: Path          # a small exported model from compiler.synthetic, with samples.npz (no JAX needed)
    zoo: Path         # a registry with one shipped tiny archive (zoo.archive) and the archive's good bytes


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    from compiler.synthetic import random_inputs, random_network, write_exported
    from quantized_models import random_quantized
    from s4d_jax import export
    from s4d_jax.checkpoint import save_params
    from zoo.archive import archive_inputs, sha256_file, write_archive
    from zoo.registry import Registry, ZooEntry

    root = tmp_path_factory.mktemp("world")
    config, params, q, _ = random_quantized(0, d_model=4, d_state=4, n_layers=1)
    save_params(root / "params", config, params, {"task": "smnist", "permutation_seed": None})
    export.write_exported(root / "export", q, params, task="smnist")
    net = random_network(d_input=1, d_model=4, d_state=4, n_layers=1)
    write_exported(net, root / "hw", samples=(random_inputs(net, 2, 5).astype(np.uint8), np.array([0, 1])))
    shipped = root / "zoo"
    (shipped / "models").mkdir(parents=True)
    np.savez(shipped / "samples.npz", sequences=np.zeros((1, 4, 1), np.uint8), labels=np.array([0]))
    (shipped / "card.md").write_text("# tiny\n")
    archive = shipped / "models" / "tiny.zip"
    write_archive(archive, archive_inputs({"params": root / "params"}, shipped / "samples.npz", shipped / "card.md"))
    entry = ZooEntry(name="tiny-s4d", task="smnist", preset="s4d-67k", description="a tiny test archive",
                     status="available", url=archive.as_uri(), sha256=sha256_file(archive),
                     size=archive.stat().st_size)
    Registry(shipped / "registry.json", (entry,)).save()
    return World(root / "params", root / "export", root / "hw", shipped)


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only directory holding one user file: a read-only tmpfs where mounting works (root ignores
    chmod), else mode 0555 for a user who is not root."""
    where = tmp_path / "ro"
    with mounted(where, "1m", read_only=True, prepare=lambda d: (d / "notes.txt").write_text("mine\n")) as ok:
        if ok:
            yield where
            return
    if os.geteuid() == 0:
        pytest.skip("root ignores chmod and cannot mount a read-only tmpfs here (no CAP_SYS_ADMIN)")
    where.mkdir(exist_ok=True)
    (where / "notes.txt").write_text("mine\n")
    where.chmod(0o555)
    yield where
    where.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path):
    """("tmpfs", dir) on a 4 KiB tmpfs holding one user file; else ("rlimit", dir) when only RLIMIT_FSIZE can
    stand in for a full disk (a child process is then needed)."""
    where = tmp_path / "full"
    with mounted(where, "4k", prepare=lambda d: (d / "notes.txt").write_text("mine\n")) as ok:
        if ok:
            yield "tmpfs", where
            return
    where.mkdir(exist_ok=True)
    (where / "notes.txt").write_text("mine\n")
    yield "rlimit", where


