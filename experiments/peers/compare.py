"""Training speed of s4d-jax beside the PyTorch peer, interleaved step by step in one run.

Both run as long-lived workers (their own interpreters and venvs); this coordinator asks each in turn for one
timed training step, so that load from other processes falls on both alike, and prints one JSON object with
best and median samples/s per side and their ratios.

    git archive 54398a8 | tar -x -C /tmp/s4d-before      # the tree before the speed-ups, as baseline
    PYTHONPATH=$PWD .venv/bin/python experiments/peers/compare.py --size s4d-67k --repeats 10 \
        --peer-python /work/peer-venv/bin/python --baseline /tmp/s4d-before
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)


def ask(worker: subprocess.Popen, command: str) -> float:
    worker.stdin.write(command + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError(f"worker {worker.args} ended early")
    return float(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="s4d-67k", choices=("s4d-67k", "s4d-265k"))
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--modes", nargs="+", default=["conv", "scan"])
    parser.add_argument("--peer-python", default="/work/peer-venv/bin/python")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--baseline", help="a source tree of an earlier s4d-jax (e.g. from git archive) to run "
                        "beside the current one, conv mode")
    args = parser.parse_args()
    common = ["--size", args.size, "--batch", str(args.batch)]
    workers = {f"s4d-jax {m}": start([sys.executable, str(HERE / "jax_worker.py"), *common, "--mode", m])
               for m in args.modes}
    if args.baseline:
        env = {**os.environ, "PYTHONPATH": str(Path(args.baseline).resolve())}
        workers["s4d-jax conv, baseline"] = start(
            [sys.executable, str(HERE / "jax_worker.py"), *common, "--mode", "conv"], env)
    workers["pytorch"] = start([args.peer_python, str(HERE / "torch_s4d.py"), *common,
                                "--threads", str(args.threads)])
    try:
        counts = {name: int(ask(w, "count")) for name, w in workers.items()}
        for w in workers.values():  # warm-up: compilation, allocator, first-touch
            ask(w, "step")
            ask(w, "step")
        times = {name: [] for name in workers}
        for _ in range(args.repeats):
            for name, w in workers.items():
                times[name].append(ask(w, "step"))
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    rates = {name: {"best": round(args.batch / min(t), 1), "median": round(args.batch / statistics.median(t), 1)}
             for name, t in times.items()}
    peer = rates["pytorch"]
    print(json.dumps({
        "size": args.size, "batch": args.batch, "repeats": args.repeats, "torch_threads": args.threads,
        "parameters": counts, "train_samples_per_s": rates,
        "ratio_to_pytorch": {name: {k: round(r[k] / peer[k], 2) for k in ("best", "median")}
                             for name, r in rates.items() if name != "pytorch"},
    }))


if __name__ == "__main__":
    main()
