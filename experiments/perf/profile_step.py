"""Where a training step's time goes: its parts timed alone, forward + backward, interleaved round-robin.

Each part is jitted on its own at the shapes of one S4D layer of the size (batch 50), with wall-clock and
process CPU time (all threads) per call; the CPU time is the work, the wall time what a user waits, and
their ratio shows how much of the part runs on both cores. The Vandermonde kernel and the single-stream
FFT convolution of the previous implementation are timed beside the current ones for the before/after.

    PYTHONPATH=$PWD .venv/bin/python experiments/perf/profile_step.py --size s4d-67k --repeats 7
"""
from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax import ssm
from s4d_jax.bench import SHAPES, train_step_fn
from s4d_jax.config import preset
from s4d_jax.layers import S4DLayer


def vandermonde_kernel(a_bar, b_bar, c, length):
    """The previous kernel: H·P·L complex exponentials."""
    powers = jnp.exp(jnp.log(a_bar)[..., None] * jnp.arange(length))
    return 2.0 * jnp.einsum("hp,hpl->hl", ssm.as_complex(c) * b_bar, powers).real


def fft_only(u_t, k, length):
    """The convolution's FFT work alone on the channels-last layout it runs on: no transposes, one stream."""
    n = ssm.fft_size(length)
    return jnp.fft.irfft(jnp.fft.rfft(u_t, n=n) * jnp.fft.rfft(k, n=n), n=n)[..., :length]


def grad_of(f, *argnums):
    return jax.jit(jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=argnums))


def parts(size: str, batch: int = 50, whole_steps: bool = True) -> dict:
    shape = SHAPES[size]
    cfg = preset(size)
    h, length = cfg.d_model, shape.length
    layer = S4DLayer(h, cfg.d_state)
    u = jax.random.normal(jax.random.PRNGKey(0), (batch, length, h))
    params = nn.Module.init(layer, jax.random.PRNGKey(1), u[:, :4])["params"]
    a_bar, b_bar = ssm.discretize(params["log_dt"], params["log_neg_re_a"], params["im_a"], params["b"])
    c = params["c"]
    k = ssm.kernel(a_bar, b_bar, c, length)
    w = jax.random.normal(jax.random.PRNGKey(2), (h, h)) / h**0.5
    fns = {
        "kernel, Vandermonde (before)": (grad_of(lambda c: vandermonde_kernel(a_bar, b_bar, c, length), 0), (c,)),
        "kernel, two-level powers": (grad_of(lambda c: ssm.kernel(a_bar, b_bar, c, length), 0), (c,)),
        "FFT conv, 1 stream (before)": (grad_of(lambda u, k: ssm.causal_conv(u, k, streams=1), 0, 1), (u, k)),
        "FFT conv, streams = cores": (grad_of(ssm.causal_conv, 0, 1), (u, k)),
        "rfft + product + irfft only ([B, H, L], 1 stream)": (grad_of(lambda v, k: fft_only(v, k, length), 0, 1),
                                                              (jnp.swapaxes(u, 1, 2), k)),
        "blocked scan (scan mode)": (grad_of(lambda u, c: ssm.chunked_scan(a_bar, b_bar, c, u), 0, 1), (u, c)),
        "ReLU + Linear H×H": (grad_of(lambda u, w: jax.nn.relu(u) @ w, 0, 1), (u, w)),
    }
    calls = {name: (lambda f=f, a=a: f(*a)) for name, (f, a) in fns.items()}
    for mode in ("conv", "scan") if whole_steps else ():
        calls[f"whole step, {mode} ({cfg.n_layers} layers + optimizer)"] = train_step_fn(size, mode, batch)
    return calls


def measure(calls: dict, repeats: int) -> dict:
    for fn in calls.values():
        jax.block_until_ready(fn())
    wall = {n: [] for n in calls}
    cpu = {n: [] for n in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            w0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn())
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {n: {"wall_ms_best": round(1e3 * min(wall[n]), 2),
                "wall_ms_median": round(1e3 * float(np.median(wall[n])), 2),
                "cpu_ms_median": round(1e3 * float(np.median(cpu[n])), 2)} for n in calls}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SHAPES), default="s4d-67k")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-whole-steps", action="store_true", help="only the parts (compare.py times steps)")
    args = parser.parse_args()
    result = measure(parts(args.size, whole_steps=not args.no_whole_steps), args.repeats)
    for name, r in result.items():
        print(f"{name:48s} wall {r['wall_ms_best']:9.2f} ms best {r['wall_ms_median']:9.2f} median   "
              f"cpu {r['cpu_ms_median']:9.2f} ms")
    print(json.dumps({"size": args.size, "repeats": args.repeats, "parts": result}))


if __name__ == "__main__":
    main()
