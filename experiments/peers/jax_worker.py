"""s4d-jax's real training step (train.make_train_step) behind compare.py's line protocol.

Uses only `s4d_jax.train` and `s4d_jax.config`, which older revisions have too, so that compare.py can run
an earlier tree (PYTHONPATH) beside the current one.
"""
from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax.train import TrainConfig, init_state, make_train_step, optimizer

TASKS = {"s4d-67k": ("smnist", 784, 1), "s4d-265k": ("scifar", 1024, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(TASKS), default="s4d-67k")
    parser.add_argument("--mode", choices=("conv", "scan"), default="conv")
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    task, length, channels = TASKS[args.size]
    cfg = TrainConfig(task=task, preset=args.size, batch_size=args.batch, mode=args.mode)
    config = cfg.model_config()
    tx = optimizer(cfg, steps_per_epoch=1000)
    step = make_train_step(config, tx, args.mode)
    state = init_state(config, tx, seed=0)
    x = jax.random.uniform(jax.random.PRNGKey(0), (args.batch, length, channels))
    y = jnp.arange(args.batch) % config.n_classes
    for line in sys.stdin:
        if line.strip() == "count":
            print(sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(state["params"])), flush=True)
        elif line.strip() == "step":
            start = time.perf_counter()
            state, loss, _ = step(state, x, y)
            jax.block_until_ready(loss)
            print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
