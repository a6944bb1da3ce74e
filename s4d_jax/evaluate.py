"""Accuracy of a model on a data split, in any inference mode.

`LOGITS_FNS` maps a mode name to a function (config, params) → jitted logits(x); a new mode is added by
putting its builder in that dict (the fixed-point mode is added that way below). Batches are padded to one
fixed size so the function compiles once, and split over all local devices.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax import fixed
from s4d_jax.config import ModelConfig
from s4d_jax.model import S4DClassifier


def _float_mode(mode: str) -> Callable:
    def build(config: ModelConfig, params) -> Callable:
        model = S4DClassifier(config)
        return jax.jit(lambda x: model.apply({"params": params}, x, mode))

    return build


# mode → builder of a logits function; each builder takes (config, params) and returns x [B, L, C] → [B, classes].
LOGITS_FNS: dict[str, Callable[[ModelConfig, object], Callable]] = {
    mode: _float_mode(mode) for mode in ("conv", "scan", "recurrent")
}
LOGITS_FNS["fixed"] = fixed.logits_builder  # integer network; its "params" is a fixed.QuantizedModel


def data_mesh() -> jax.sharding.Mesh:
    """A one-axis mesh over this process's devices: batches are split along it, parameters replicated.

    Local on purpose: in a multi-process job every process evaluates on its own devices.
    """
    return jax.sharding.Mesh(np.array(jax.local_devices()), ("data",))


def shard_batch(mesh: jax.sharding.Mesh, *arrays: np.ndarray):
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    return tuple(jax.device_put(a, sharding) for a in arrays)


def replicate(mesh: jax.sharding.Mesh, tree):
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def evaluate(config: ModelConfig, params, split, *, mode: str = "conv", batch_size: int = 100,
             limit: int | None = None, progress: bool = False) -> dict:
    """{accuracy, loss, n, mode} of `params` on a `s4d_jax.data.Split` (its first `limit` examples)."""
    import optax
    from tqdm import tqdm

    from s4d_jax import data

    if mode not in LOGITS_FNS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(LOGITS_FNS)}")
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    mesh = data_mesh()
    # every batch is padded to one compiled shape that splits evenly over the local devices (100 rows on 8
    # devices: 104); padded rows are not counted, and no example's logits depend on the others in its batch
    padded = -(-batch_size // mesh.size) * mesh.size
    logits_fn = LOGITS_FNS[mode](config, replicate(mesh, params))
    n = len(split) if limit is None else min(limit, len(split))
    correct, loss_sum = 0, 0.0
    bar = tqdm(total=n, desc=f"eval {split.name} ({mode})", unit="ex", disable=not progress, leave=False)
    for x, y in data.batches(split, batch_size, limit=n):
        real = len(y)
        if real < padded:
            x = np.concatenate([x, np.zeros((padded - real,) + x.shape[1:], x.dtype)])
        (xs,) = shard_batch(mesh, x)
        logits = np.asarray(logits_fn(xs))[:real]
        correct += int((logits.argmax(-1) == y).sum())
        loss_sum += float(optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits), y).sum())
        bar.update(real)
    bar.close()
    if n == 0:
        raise ValueError(f"the {split.name} split has no examples to evaluate")
    return {"accuracy": correct / n, "loss": loss_sum / n, "n": n, "mode": mode}
