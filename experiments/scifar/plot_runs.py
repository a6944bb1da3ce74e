"""All sCIFAR runs on one page: validation accuracy against the epochs trained in all, and the test figures
of each run's model beside the paper's goal, as a PNG.

Runs 3 and 4 are warm restarts, so they are drawn where their starting model left off: run 3 began from run 2's
epoch 36, run 4 from run 3's model after its 30 epochs, so run 4's epoch e has 36 + 30 + e epochs behind it.
Run 5 is one cycle from a random init. The second panel reads `results/NAME/quantize.json` (float and PTQ on
the 10,000 test images), which `finish.sh` writes.

    python experiments/scifar/plot_runs.py --out experiments/scifar/runs.png
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from plot_curve import PAPER_FIXED, PAPER_FLOAT, read_metrics

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Run:
    """One run: where its per-epoch metrics are, how many epochs its starting model had, what it is."""

    name: str
    metrics: str
    start_epochs: int
    label: str


RUNS = (
    Run("run2", "metrics.jsonl", 0, "run 2: 40 epochs from scratch"),
    Run("run3", "run3_metrics.jsonl", 36, "run 3: 30 more, from run 2's epoch 36"),
    Run("run4", "run4_metrics.jsonl", 66, "run 4: 40 more, from run 3's model"),
    Run("run5", "run5_metrics.jsonl", 0, "run 5: one cycle of 100 epochs from scratch"),
)


def test_figures(run: Run) -> tuple[float, float]:
    """(float, PTQ fixed point) test accuracy in percent of the model `finish.sh` took from the run."""
    result = json.loads((HERE / "results" / run.name / "quantize.json").read_text())
    return 100 * result["float_accuracy"], 100 * result["ptq_fixed_accuracy"]


def plot(out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [1.6, 1]})
    for run in RUNS:
        records = read_metrics(HERE / run.metrics)
        curves.plot([run.start_epochs + r["epoch"] for r in records],
                    [100 * r["val_accuracy"] for r in records], marker=".", label=run.label)
    curves.axhline(PAPER_FIXED, color="grey", linestyle=":", label=f"paper, QAFT fixed point test: {PAPER_FIXED} %")
    curves.set(xlabel="epochs trained in all", ylabel="validation accuracy (%)", ylim=(70, 88),
               title="validation (5,000 held-out images) against the epochs behind the model")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=8, loc="lower right")

    width = 0.38
    for i, run in enumerate(RUNS):
        for offset, value, kind, color in zip((-width / 2, width / 2), test_figures(run),
                                              ("float", "PTQ, fixed point"), ("tab:blue", "tab:orange")):
            bars.bar(i + offset, value, width, color=color, label=kind if i == 0 else None)
            bars.annotate(f"{value:.2f}", (i + offset, value), ha="center", va="bottom", fontsize=8)
    bars.axhline(PAPER_FIXED, color="grey", linestyle=":", label=f"goal: {PAPER_FIXED} % fixed point")
    bars.axhline(PAPER_FLOAT, color="grey", linestyle="--", label=f"paper, float: {PAPER_FLOAT} %")
    bars.set_xticks(range(len(RUNS)), [run.name.replace("run", "run ") for run in RUNS])
    bars.set(ylabel="test accuracy (%)", ylim=(80, 87.5), title="each run's model on the 10,000 test images")
    bars.grid(axis="y", alpha=0.3)
    bars.legend(fontsize=8, loc="upper left")
    fig.suptitle("s4d-265k on sCIFAR: runs 2-5 (CPU)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "runs.png")
    args = parser.parse_args(argv)
    try:
        plot(args.out)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
