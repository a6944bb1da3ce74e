"""s4d-jax's real training step (s4d_jax.bench.train_step_fn) behind compare.py's line protocol."""
from __future__ import annotations

import argparse
import sys
import time

import jax

from s4d_jax.bench import SHAPES, train_step_fn
from s4d_jax.model import count_params


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SHAPES), default="s4d-67k")
    parser.add_argument("--mode", choices=("conv", "scan"), default="conv")
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    step = train_step_fn(args.size, args.mode, args.batch)
    for line in sys.stdin:
        if line.strip() == "count":
            print(count_params(step.state["state"]["params"]), flush=True)
        elif line.strip() == "step":
            start = time.perf_counter()
            jax.block_until_ready(step())
            print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
