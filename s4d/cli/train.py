"""`s4d train` and `s4d eval`."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

DATA_DIR_HELP = "prepared tfds data (default $S4D_DATA_DIR, $TFDS_DATA_DIR, ~/tensorflow_datasets)"
SOURCE_DIR_HELP = "original files: mnist/, cifar10/ (default $S4D_SOURCE_DIR, ../shared/data)"


def load_model_and_task(model: str, task: Optional[str], part: str = "params", limit: Optional[int] = None):
    """(path, config, params, meta, task) of a MODEL argument (a zoo name's `part`); the task defaults to the
    model's own. A --limit, if given, must be positive."""
    from s4d.resolve import model_path
    from s4d_jax.checkpoint import load_model

    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be positive, got {limit}")
    path = model_path(model, part)
    config, params, meta = load_model(path)
    task = task or meta.get("task")
    if task is None:
        raise ValueError(f"{path} does not record its task; pass --task")
    return path, config, params, meta, task


def train(
    workdir: Path = typer.Option(..., help="run directory: checkpoints, metrics.jsonl, train_config.json"),
    task: str = typer.Option("smnist", help="smnist, psmnist or scifar"),
    preset: str = typer.Option("s4d-67k", help="model size"),
    epochs: int = typer.Option(12),
    batch_size: int = typer.Option(50),
    lr: float = typer.Option(0.01, help="peak learning rate of encoder, C, D, mixers and decoder"),
    ssm_lr: float = typer.Option(0.001, help="peak learning rate of log Δ, A and B (no weight decay)"),
    weight_decay: float = typer.Option(0.05),
    warmup: float = typer.Option(1.0, help="warm-up length in epochs"),
    clip_norm: float = typer.Option(1.0, help="global gradient norm clip"),
    dropout: float = typer.Option(0.0, help="dropout rate after each layer's ReLU, one mask per sequence and "
                                            "channel (training only)"),
    mode: str = typer.Option("conv", help="conv or scan"),
    seed: int = typer.Option(0),
    permutation_seed: int = typer.Option(0, help="pixel permutation of psmnist"),
    limit_train: Optional[int] = typer.Option(None, help="use only the first N training examples (quick tests)"),
    train_on_validation: bool = typer.Option(False, help="train on the validation images too (the whole original "
                                             "training split), for a final fit once the recipe is fixed; the "
                                             "per-epoch validation figures are then not held out"),
    init_from: Optional[str] = typer.Option(None, help="start from this params directory, exported model or zoo "
                                            "name (same architecture and task) instead of a random init"),
    target_density: float = typer.Option(1.0, help="prune by magnitude down to this fraction of the stored "
                                         "weights (1 = dense training)"),
    prune_start: float = typer.Option(0.0, help="epoch at which the cubic pruning ramp starts"),
    prune_end: float = typer.Option(0.0, help="epoch at which it reaches --target-density (masks fixed after)"),
    prune_scope: str = typer.Option("layer", help="layer: every pruned tensor reaches the density; global: all "
                                    "of them together"),
    prune_tensors: str = typer.Option("encoder,b,c,mixers,decoder", help="comma-separated weights to prune"),
    prune_every: int = typer.Option(50, help="steps between mask updates during the ramp"),
    resume: bool = typer.Option(False, help="continue the run in WORKDIR from its latest checkpoint"),
    checkpoint_every_min: float = typer.Option(10.0, help="minutes between mid-epoch checkpoints (a resumed run "
                                               "continues inside the epoch exactly)"),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    source_dir: Optional[Path] = typer.Option(None, help=SOURCE_DIR_HELP),
    json_output: bool = typer.Option(False, "--json", help="print the last epoch's metrics as one JSON object"),
    distributed: bool = typer.Option(False, help="one process of a multi-process job (jax.distributed); the "
                                     "other flags must be the same in every process"),
    coordinator_address: Optional[str] = typer.Option(None, help="host:port of process 0 (default "
                                                      "$JAX_COORDINATOR_ADDRESS or the detected cluster)"),
    num_processes: Optional[int] = typer.Option(None, help="processes in the job (default $JAX_NUM_PROCESSES "
                                                "or the detected cluster)"),
    process_id: Optional[int] = typer.Option(None, help="this process, 0 … N−1 (default $JAX_PROCESS_ID or "
                                             "the detected cluster)"),
) -> None:
    """Train a classifier; validation every epoch, checkpoints of the best and the latest epoch, and a mid-epoch
    checkpoint every few minutes."""
    from s4d.resolve import model_path
    from s4d_jax.train import TrainConfig
    from s4d_jax.train import train as run

    if distributed:  # before anything touches a device
        from s4d_jax import distributed as dist

        dist.initialize(dist.Cluster.from_env(coordinator_address=coordinator_address,
                                              num_processes=num_processes, process_id=process_id))
    elif (coordinator_address, num_processes, process_id) != (None, None, None):
        raise ValueError("--coordinator-address, --num-processes and --process-id need --distributed")

    if init_from is not None:
        init_from = str(model_path(init_from))
    cfg = TrainConfig(task=task, preset=preset, epochs=epochs, batch_size=batch_size, lr=lr, ssm_lr=ssm_lr,
                      weight_decay=weight_decay, warmup_epochs=warmup, clip_norm=clip_norm, dropout=dropout,
                      seed=seed, mode=mode, limit_train=limit_train, train_on_validation=train_on_validation,
                      permutation_seed=permutation_seed,
                      init_from=init_from, target_density=target_density, prune_start=prune_start,
                      prune_end=prune_end, prune_scope=prune_scope, prune_every=prune_every,
                      prune_tensors=tuple(t.strip() for t in prune_tensors.split(",") if t.strip()))
    command = shlex.join(["s4d"] + sys.argv[1:])
    record = run(cfg, workdir, resume=resume, command=command, data_dir=data_dir, source_dir=source_dir,
                 checkpoint_every_min=checkpoint_every_min)
    if json_output:
        print(json.dumps(record))


def evaluate(
    model: str = typer.Argument(..., help="params directory, training workdir, exported model or zoo name"),
    task: Optional[str] = typer.Option(None, help="task (default: the model's own)"),
    mode: str = typer.Option("conv", help="conv, scan, recurrent or fixed"),
    split: str = typer.Option("test", help="train, validation or test"),
    limit: Optional[int] = typer.Option(None, help="evaluate only the first N examples"),
    batch_size: int = typer.Option(100),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    source_dir: Optional[Path] = typer.Option(None, help=SOURCE_DIR_HELP),
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Accuracy of a model on a split, in one inference mode."""
    from s4d_jax import data
    from s4d_jax.evaluate import evaluate as run

    path, config, params, meta, task = load_model_and_task(model, task, "export" if mode == "fixed" else "params",
                                                           limit)
    spec = data.get_task(task)
    if spec.channels != config.d_input:
        raise ValueError(f"task {task} has {spec.channels} input channels but the model expects {config.d_input}")
    if mode == "fixed":  # the integer network: an exported model's own integers, else PTQ of the float model
        from s4d_jax.quantize import resolve_quantized

        params = resolve_quantized(path, config, params, meta, task, data_dir=data_dir, source_dir=source_dir)
    split_data = data.load(task, split, data_dir=data_dir, source_dir=source_dir,
                           permutation_seed=meta.get("permutation_seed"))
    result = run(config, params, split_data, mode=mode, batch_size=batch_size, limit=limit, progress=True)
    result = {**result, "task": task, "split": split, "model": str(path)}
    if json_output:
        print(json.dumps(result))
    else:
        print(f"{task} {split} ({mode}): accuracy {result['accuracy']:.4f} on {result['n']} examples")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("eval")(evaluate)
