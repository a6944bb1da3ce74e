"""Training: AdamW with warm-up + cosine, SSM parameters in their own group, orbax checkpoints, exact resume.

Everything a step depends on is a function of (config, step): the batch order comes from (seed, epoch), the
learning rate from the step count in the optimizer state, and the dropout masks (if any) from (seed, step). So a
run resumed from its latest checkpoint replays exactly what the uninterrupted run would have done. Besides the
epoch checkpoints, a mid-epoch checkpoint is written every few minutes with the epoch's partial loss and
accuracy sums; resuming from it skips the batches already done, so a long epoch is never lost to a kill.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s4d_jax import checkpoint, data
from s4d_jax.config import ModelConfig, preset


@dataclass(frozen=True)
class TrainConfig:
    """One training run (everything that determines its result)."""

    task: str = "smnist"
    preset: str = "s4d-67k"
    epochs: int = 12
    batch_size: int = 50
    lr: float = 0.01  # encoder, C, D, mixers, decoder
    ssm_lr: float = 0.001  # log_dt, A, B (no weight decay)
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    clip_norm: float = 1.0
    dropout: float = 0.0  # after each layer's ReLU, tied over the sequence (S4DClassifier)
    seed: int = 0
    mode: str = "conv"
    limit_train: int | None = None
    train_on_validation: bool = False  # fit on the validation images too; its figures are then not held out
    permutation_seed: int = data.DEFAULT_PERMUTATION_SEED
    eval_batch_size: int = 100
    model_overrides: tuple[tuple[str, object], ...] = ()  # (ModelConfig field, value) pairs changing the preset
    init_from: str | None = None  # params directory, workdir or exported model to start from (else random init)
    target_density: float = 1.0  # < 1: gradual magnitude pruning (s4d_jax.prune) down to this density
    prune_start: float = 0.0  # epochs: the cubic density ramp runs from here ...
    prune_end: float = 0.0  # ... to here, then the masks stay fixed
    prune_scope: str = "layer"  # the density holds per tensor ("layer") or over all pruned tensors ("global")
    prune_tensors: tuple[str, ...] = ("encoder", "b", "c", "mixers", "decoder")
    prune_every: int = 50  # steps between mask updates during the ramp

    def __post_init__(self) -> None:
        data.get_task(self.task)
        if self.mode not in ("conv", "scan"):
            raise ValueError(f"training mode must be conv or scan, got {self.mode!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("lr", "ssm_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.clip_norm <= 0:
            raise ValueError("weight decay and warm-up must be ≥ 0 and the clipping norm > 0")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.limit_train is not None and self.limit_train < self.batch_size:
            raise ValueError(f"--limit-train {self.limit_train} is smaller than one batch of {self.batch_size}")
        if self.prune_end > self.epochs:
            raise ValueError(f"--prune-end {self.prune_end} is after the last epoch ({self.epochs})")
        self.pruning(1)  # a bad density or schedule fails here too
        self.model_config()  # a bad preset or override fails here, before any work

    def pruning(self, steps_per_epoch: int):
        """The pruning schedule in steps, or None for dense training."""
        from s4d_jax.prune import PruneConfig

        if self.target_density == 1.0:
            return None
        return PruneConfig(self.target_density, round(self.prune_start * steps_per_epoch),
                           round(self.prune_end * steps_per_epoch), self.prune_every, self.prune_scope,
                           tuple(self.prune_tensors))

    def model_config(self) -> ModelConfig:
        task = data.get_task(self.task)
        return preset(self.preset, d_input=task.channels, n_classes=task.n_classes, **dict(self.model_overrides))

    def to_dict(self) -> dict:
        """As plain JSON types (so that a saved config compares equal to a given one)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def param_labels(params):
    """'ssm' for the state-space parameters (layers.SSM_PARAMS), 'dense' for the rest."""
    from flax import traverse_util

    from s4d_jax.layers import SSM_PARAMS

    return traverse_util.path_aware_map(lambda path, _: "ssm" if path[-1] in SSM_PARAMS else "dense", params)


def learning_rates(cfg: TrainConfig, steps_per_epoch: int) -> dict:
    """Schedule (step → learning rate) of each parameter group: linear warm-up, then cosine decay to 0."""
    import optax

    total = cfg.epochs * steps_per_epoch
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    return {group: optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, end_value=0.0)
            for group, peak in (("dense", cfg.lr), ("ssm", cfg.ssm_lr))}


def optimizer(cfg: TrainConfig, steps_per_epoch: int):
    import optax

    from s4d_jax.prune import magnitude_pruning

    schedules = learning_rates(cfg, steps_per_epoch)
    pruning = cfg.pruning(steps_per_epoch)
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.multi_transform(
            {"dense": optax.adamw(schedules["dense"], weight_decay=cfg.weight_decay),
             "ssm": optax.adam(schedules["ssm"])},
            param_labels,
        ),
        *([magnitude_pruning(pruning)] if pruning else []),  # last: it sees the final update
    )


def make_train_step(config: ModelConfig, tx, mode: str, dropout: float = 0.0, seed: int = 0):
    """One jitted optimizer step. The dropout masks of step s come from fold_in(key, s) with a key split from
    PRNGKey(seed): a function of the step alone, so a resumed run draws the masks an uninterrupted one would."""
    import jax
    import optax

    from s4d_jax.model import S4DClassifier

    model = S4DClassifier(config, dropout=dropout)
    dropout_key = jax.random.split(jax.random.PRNGKey(seed))[1]  # a stream apart from the initialization's

    def loss_fn(params, x, y, step):
        logits = model.apply({"params": params}, x, mode, train=True,
                             rngs={"dropout": jax.random.fold_in(dropout_key, step)})
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (logits.argmax(-1) == y).sum()

    def step(state, x, y):
        (loss, correct), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], x, y, state["step"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, loss, correct

    return jax.jit(step, donate_argnums=0)


def init_state(model_config: ModelConfig, tx, seed: int, params=None):
    """Step 0 with a fresh optimizer: random parameters, or the given ones (fine-tuning a trained model)."""
    import jax.numpy as jnp

    from s4d_jax.model import init_params

    params = init_params(model_config, seed) if params is None else params
    return {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32)}


def initial_params(cfg: TrainConfig, model_config: ModelConfig):
    """The parameters of `cfg.init_from`, refused unless they are this run's architecture, task and pixel order."""
    config, params, meta = checkpoint.load_model(cfg.init_from)
    if config != model_config:
        raise ValueError(f"--init-from {cfg.init_from} is a {config} model; this run trains {model_config}")
    if meta.get("task") not in (None, cfg.task):
        raise ValueError(f"--init-from {cfg.init_from} was trained on {meta['task']!r}; this run trains {cfg.task!r}")
    if data.get_task(cfg.task).permuted and meta.get("permutation_seed") != cfg.permutation_seed:
        raise ValueError(f"--init-from {cfg.init_from} used permutation seed {meta.get('permutation_seed')}; "
                         f"this run uses {cfg.permutation_seed}")
    return params


def prepare_workdir(workdir: Path, cfg: TrainConfig, resume: bool, command: str) -> str:
    """Create the workdir, or check that resuming it continues the same run; never overwrite one. Returns the
    command that started the run (the saved one on a resume): the one that reproduces the model."""
    config_file = workdir / checkpoint.TRAIN_CONFIG
    if workdir.exists() and not workdir.is_dir():
        raise NotADirectoryError(f"workdir {workdir} exists and is not a directory")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not resume:
            raise FileExistsError(f"workdir {workdir} is not empty; pass --resume to continue it or choose another")
        if not config_file.is_file():
            raise ValueError(f"{workdir} is not empty and is not a training workdir (no {config_file.name})")
        started = json.loads(config_file.read_text())
        # fields added since the run started count with their defaults
        saved = {**TrainConfig().to_dict(), **started["train_config"]}
        diff = {k: (saved.get(k), v) for k, v in cfg.to_dict().items() if saved.get(k) != v}
        if diff:
            raise ValueError(f"cannot resume {workdir} with different settings (saved, given): {diff}")
        return started.get("command") or command
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.access(workdir, os.W_OK):
        raise PermissionError(f"workdir {workdir} is not writable")
    tmp = config_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"train_config": cfg.to_dict(), "command": command}, indent=2) + "\n")
    os.replace(tmp, config_file)
    return command


def params_meta(cfg: TrainConfig, command: str, metrics: dict) -> dict:
    """What a model needs besides its parameters to be used again (stored with every checkpoint)."""
    task = data.get_task(cfg.task)
    return {
        "task": cfg.task,
        "permutation_seed": cfg.permutation_seed if task.permuted else None,
        "input_scaling": "pixel / 255 in [0, 1]",
        "sequence": f"{task.length} tokens x {task.channels} channels, row-major pixels",
        "metrics": metrics,
        "train_config": cfg.to_dict(),
        "command": command,
    }


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _kill_hook() -> int | None:
    """Test hook: S4D_TRAIN_KILL_AFTER_STEP=n makes the process SIGKILL itself after global step n."""
    value = os.environ.get("S4D_TRAIN_KILL_AFTER_STEP")
    return int(value) if value else None


def _restore_progress(manager, state, epoch_step: int | None):
    """(state, partial sums) of the mid-epoch checkpoint if it is newer than the last epoch checkpoint, else None."""
    import orbax.checkpoint as ocp

    step = manager.latest_step()
    if step is None or (epoch_step is not None and step <= epoch_step):
        return None
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(state), progress=ocp.args.JsonRestore()))
    return restored["state"], restored["progress"]


def train(cfg: TrainConfig, workdir: str | os.PathLike, *, resume: bool = False, command: str = "",
          data_dir=None, source_dir=None, progress: bool = True, checkpoint_every_min: float = 10.0) -> dict:
    """Run (or continue) training in `workdir`; returns the last epoch's metrics record.

    `checkpoint_every_min`: wall time between mid-epoch checkpoints (it changes no result, only how much
    work a kill can lose)."""
    import jax
    import orbax.checkpoint as ocp
    from tqdm import tqdm

    from s4d_jax import distributed
    from s4d_jax.evaluate import evaluate
    from s4d_jax.metrics import RunWriter

    workdir = Path(workdir)
    checkpoint.check_interval(checkpoint_every_min)
    distributed.check_global_batch(cfg.batch_size)
    model_config = cfg.model_config()
    start_params = initial_params(cfg, model_config) if cfg.init_from else None  # refused before any file is made
    if distributed.is_primary():  # one job, one workdir: the other processes wait for it
        command = prepare_workdir(workdir, cfg, resume, command)
    distributed.barrier("workdir ready")
    train_split = data.load(cfg.task, data.FULL_TRAIN if cfg.train_on_validation else "train", data_dir=data_dir,
                            source_dir=source_dir, permutation_seed=cfg.permutation_seed)
    val_split = data.load(cfg.task, "validation", data_dir=data_dir, source_dir=source_dir,
                          permutation_seed=cfg.permutation_seed)
    n_train = len(train_split) if cfg.limit_train is None else min(cfg.limit_train, len(train_split))
    steps_per_epoch = data.n_batches(n_train, cfg.batch_size, drop_remainder=True)
    tx = optimizer(cfg, steps_per_epoch)
    mesh = distributed.train_mesh()
    rows = distributed.process_rows(cfg.batch_size)
    state = init_state(model_config, tx, cfg.seed, start_params)
    pruning = cfg.pruning(steps_per_epoch)
    prune_done = pruning.end_step if pruning else 0  # before it the model is denser: never the best checkpoint

    manager = checkpoint.checkpoint_manager(workdir)
    metrics_file = workdir / checkpoint.METRICS
    latest = manager.latest_step()
    if latest is not None:
        restored = manager.restore(latest, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(state), meta=ocp.args.JsonRestore()))
        state = restored["state"]
        record = restored["meta"]["params_meta"]["metrics"]
        logged = [json.loads(line)["epoch"] for line in metrics_file.read_text().splitlines()] \
            if metrics_file.exists() else []
        # killed between the checkpoint and its log line
        if record["epoch"] not in logged and distributed.is_primary():
            _append_jsonl(metrics_file, record)
    progress_manager = checkpoint.progress_manager(workdir)
    partial = _restore_progress(progress_manager, state, latest)
    if partial is not None:
        state, partial = partial
    state = distributed.replicate(mesh, state)
    train_step = make_train_step(model_config, tx, cfg.mode, cfg.dropout, cfg.seed)
    kill_after = _kill_hook()
    events, schedules = RunWriter(workdir), learning_rates(cfg, steps_per_epoch)

    step = int(state["step"])
    start_epoch = step // steps_per_epoch
    if resume and step:
        print(f"resuming at step {step} (epoch {start_epoch + 1}, {step % steps_per_epoch} of {steps_per_epoch} "
              f"batches done)", file=sys.stderr, flush=True)
    record = {}
    last_save = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        skip = step - epoch * steps_per_epoch  # batches done before a mid-epoch resume
        loss_sum, correct_sum, time_before = 0.0, 0, 0.0
        if partial is not None and partial["step"] == step:
            loss_sum, correct_sum, time_before = partial["loss_sum"], partial["correct_sum"], partial["train_time_s"]
        bar = tqdm(total=steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step",
                   disable=not (progress and distributed.is_primary()), file=sys.stderr, dynamic_ncols=True)
        pending = []
        for x, y in data.batches(train_split, cfg.batch_size, shuffle_seed=cfg.seed, epoch=epoch,
                                 drop_remainder=True, start=skip, limit=n_train):
            xs, ys = distributed.global_batch(mesh, x[rows], y[rows])
            state, loss, correct = train_step(state, xs, ys)
            pending.append((loss, correct))
            step += 1
            if kill_after is not None and step >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            save_due = distributed.same_everywhere(
                time.time() - last_save >= 60 * checkpoint_every_min and step % steps_per_epoch != 0)
            if len(pending) == 20 or step % steps_per_epoch == 0 or save_due:
                window = np.asarray(jax.device_get(pending))
                for loss_i, correct_i in window:  # one step at a time: the sums
                    loss_sum += float(loss_i)  # do not depend on where a checkpoint cut the epoch
                    correct_sum += int(correct_i)
                bar.update(len(pending))
                done = step - epoch * steps_per_epoch
                bar.set_postfix(loss=f"{loss_sum / done:.4f}", acc=f"{correct_sum / (done * cfg.batch_size):.4f}",
                                sps=f"{(done - skip) * cfg.batch_size / (time.time() - t0):.0f}")
                events.train(step, window[:, 0].mean(), window[:, 1].sum() / (len(window) * cfg.batch_size),
                             {group: fn(step - 1) for group, fn in schedules.items()},
                             (done - skip) * cfg.batch_size / (time.time() - t0))
                pending = []
            if save_due:
                sums = {"step": step, "loss_sum": loss_sum, "correct_sum": correct_sum,
                        "train_time_s": time_before + time.time() - t0}
                progress_manager.save(step, args=ocp.args.Composite(
                    state=ocp.args.StandardSave(jax.device_get(state)), progress=ocp.args.JsonSave(sums)))
                progress_manager.wait_until_finished()
                last_save = time.time()
        bar.close()
        train_time = time_before + time.time() - t0
        val = evaluate(model_config, jax.device_get(state["params"]), val_split, mode=cfg.mode,
                       batch_size=cfg.eval_batch_size, progress=progress and distributed.is_primary())
        record = {
            "epoch": epoch + 1, "step": step,
            "train_loss": loss_sum / steps_per_epoch,
            "train_accuracy": correct_sum / (steps_per_epoch * cfg.batch_size),
            "val_loss": val["loss"], "val_accuracy": val["accuracy"],
            "train_time_s": round(train_time, 2), "epoch_time_s": round(time.time() - t0, 2),
            "samples_per_s": round(steps_per_epoch * cfg.batch_size / train_time, 1),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if cfg.target_density < 1:
            from s4d_jax.prune import densities

            record["density"] = densities(jax.device_get(state["params"]), cfg.prune_tensors)
        meta = {"model_config": model_config.to_dict(), "params_meta": params_meta(cfg, command, record)}
        manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(jax.device_get(state)),
                                                   meta=ocp.args.JsonSave(meta)),
                     metrics={"val_accuracy": val["accuracy"] if step >= prune_done else -1.0})
        manager.wait_until_finished()
        last_save = time.time()
        if distributed.is_primary():
            _append_jsonl(metrics_file, record)
            events.epoch(record)
        if progress and distributed.is_primary():
            print(f"epoch {epoch + 1}: train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}, "
                  f"val loss {val['loss']:.4f} acc {val['accuracy']:.4f}, {record['samples_per_s']} samples/s",
                  file=sys.stderr, flush=True)
    manager.close()
    progress_manager.close()
    events.close()
    return record
