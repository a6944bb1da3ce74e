"""Model files: the portable params directory, training checkpoints (orbax), and loading either.

A params directory holds `config.json` (ModelConfig), `params.npz` (flat "layers_0/log_dt" keys, no pickle)
and `meta.json` (task, permutation seed, input scaling, metrics, command). It is written to a temporary
folder and renamed, so a reader never sees half of one. A training workdir holds `train_config.json`,
`metrics.jsonl`, orbax checkpoints under `checkpoints/` (best by validation accuracy, and the latest epoch) and
the latest mid-epoch checkpoint under `progress/` (state plus the epoch's partial sums, for an exact resume).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from s4d_jax.config import ModelConfig
from s4d_jax.files import staged_directory, write_npz
from s4d_jax.param_tree import check_architecture, flatten_params, unflatten_params

PARAMS_FILES = ("config.json", "params.npz", "meta.json")
CHECKPOINTS = "checkpoints"
PROGRESS = "progress"
TRAIN_CONFIG = "train_config.json"
METRICS = "metrics.jsonl"


def save_params(path: str | os.PathLike, config: ModelConfig, params, meta: dict) -> Path:
    """Write a params directory at `path` atomically; refuses to replace an existing one."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose a new path or remove it first")
    check_architecture(config, params, str(path))
    with staged_directory(path) as tmp:
        (tmp / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        write_npz(tmp / "params.npz", flatten_params(params))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def load_params_dir(path: Path):
    missing = [name for name in PARAMS_FILES if not (path / name).is_file()]
    if missing:
        raise ValueError(f"{path} is not a complete params directory (missing {', '.join(missing)})")
    try:
        config = ModelConfig.from_dict(json.loads((path / "config.json").read_text()))
        meta = json.loads((path / "meta.json").read_text())
        with np.load(path / "params.npz", allow_pickle=False) as npz:
            flat = {k: npz[k] for k in npz.files}
    except (ValueError, TypeError, OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path} is corrupt or half-written: {reason}") from err
    params = unflatten_params(flat)
    check_architecture(config, params, str(path))
    return config, params, meta


def checkpoint_manager(workdir: Path, *, read_only: bool = False):
    """orbax manager of a training workdir: keeps the latest checkpoint and the best by validation accuracy."""
    import orbax.checkpoint as ocp

    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=1),
        ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m["val_accuracy"], n=1),
    ])
    with _absl_quiet() if read_only else contextlib.nullcontext():  # orbax warns that read-only means read-only
        options = ocp.CheckpointManagerOptions(
            best_fn=lambda m: m["val_accuracy"], best_mode="max", preservation_policy=policy,
            enable_async_checkpointing=False, read_only=read_only, create=not read_only,
        )
        return ocp.CheckpointManager(Path(workdir).absolute() / CHECKPOINTS, options=options,
                                     item_names=("state", "meta"))


@contextlib.contextmanager
def _absl_quiet():
    """absl (orbax's logger) at ERROR for the duration: its warnings about a reader's own choices are not news."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_interval(minutes: float) -> None:
    """Refuse a mid-epoch checkpoint interval that is negative or not a number, before any work starts."""
    if not minutes >= 0:
        raise ValueError(f"the mid-epoch checkpoint interval must be >= 0 minutes, got {minutes}")


def progress_manager(workdir: Path):
    """orbax manager of the mid-epoch checkpoints of a training or QAFT workdir: only the latest is kept, and
    only resuming reads it (models are loaded from epoch checkpoints)."""
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(workdir).absolute() / PROGRESS, options=options,
                                 item_names=("state", "progress"))


def load_workdir(workdir: Path, step: int | None = None):
    """(config, params, meta) of a checkpoint in a training workdir: the best one unless `step` is given."""
    import orbax.checkpoint as ocp

    if not (workdir / CHECKPOINTS).is_dir():
        raise ValueError(f"{workdir} is neither a params directory nor a training workdir with checkpoints")
    manager = checkpoint_manager(workdir, read_only=True)
    step = manager.best_step() if step is None else step
    if step is None:
        raise ValueError(f"{workdir} has no finished checkpoint yet")
    try:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        config = ModelConfig.from_dict(meta["model_config"])
        restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    except (ValueError, KeyError, OSError, TypeError) as err:
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ValueError(f"checkpoint {step} in {workdir} is corrupt or half-written: {reason}") from err
    params = restored["params"]
    check_architecture(config, params, f"{workdir} checkpoint {step}")
    return config, params, meta["params_meta"]


def load_model(path: str | os.PathLike):
    """(config, params, meta) from a params directory or a training workdir (its best checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory (want a params directory or a training workdir)")
    if any((path / name).exists() for name in PARAMS_FILES):
        return load_params_dir(path)
    if (path / "manifest.json").is_file():  # an exported model directory (docs/export_format.md)
        from s4d_jax.export import load_float

        return load_float(path)
    return load_workdir(path)
