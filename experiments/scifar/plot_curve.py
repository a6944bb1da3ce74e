"""Per-epoch training curve of a run: accuracy and loss (train and validation) against epoch, as a PNG.

Reads the `metrics.jsonl` that `s4d train` appends one line to per finished epoch. The accuracy panel carries
the paper's sCIFAR figures as reference lines (float 86.5 %, fixed point after QAFT 84.13 %), so the curve
shows at a glance how far the run is from them.

With `--compare` (another run's metrics and `--compare-epochs`, its planned length) a third panel puts both
runs' validation accuracy on one axis: the share t of the cosine decay done at the end of an epoch,

    t = (epoch - warmup) / (planned - warmup),    learning rate = peak · (1 + cos(π t)) / 2,

so two runs of different length are compared where their learning rates are equal. Runs with different peaks
(`--peak`, `--compare-peak`) are placed on the schedule of the higher one: a rate r sits at
t = arccos(2 r / peak_high - 1) / π there, so a run from half the peak starts at t = 50 %. The script also
prints the other run's validation accuracy at this run's last position (linear between the other run's epochs).

    python experiments/scifar/plot_curve.py /work/runs/scifar-265k-run2/work/metrics.jsonl --epochs 40 \
        --compare experiments/scifar/run1_metrics.jsonl --compare-epochs 24 --out experiments/scifar/curve.png
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

PAPER_FLOAT = 86.5  # % test accuracy, float, S4D-265k on sCIFAR (secondary sources, docs/design.md §2)
PAPER_FIXED = 84.13  # % after quantization-aware fine-tuning


def read_metrics(path: Path) -> list[dict]:
    """The epoch records, one per epoch (a line repeated by a resume counts once), in epoch order."""
    records = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
                records[int(record["epoch"])] = record
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{number}: not an epoch record ({err})") from err
    if not records:
        raise ValueError(f"{path} has no finished epoch yet")
    return [records[epoch] for epoch in sorted(records)]


def decay_done(epoch: int, planned: int, warmup: int) -> float:
    """The share t (percent) of the cosine decay done after `epoch`: equal t, equal learning rate."""
    return 100 * max(epoch - warmup, 0) / (planned - warmup)


def on_schedule(t: float, peak: float, peak_high: float) -> float:
    """Where decay share t (percent) of a run with `peak` sits on the schedule of the higher peak: the share at
    which that schedule has the same learning rate."""
    rate = peak * (1 + math.cos(math.pi * t / 100)) / 2
    return 100 * math.acos(max(-1.0, min(1.0, 2 * rate / peak_high - 1))) / math.pi


def val_at_decay(records: list[dict], planned: int, warmup: int, t: float, peak: float = 1.0,
                 peak_high: float = 1.0) -> float | None:
    """A run's validation accuracy (percent) at share t of the `peak_high` schedule, linear between its epochs;
    None outside them."""
    import numpy as np

    # increasing: one record per epoch
    shares = [on_schedule(decay_done(r["epoch"], planned, warmup), peak, peak_high) for r in records]
    if not shares[0] <= t <= shares[-1]:
        return None
    return float(np.interp(t, shares, [100 * r["val_accuracy"] for r in records]))


def plot(records: list[dict], out: Path, title: str, planned: int | None = None,
         compare: tuple[str, list[dict], int] | None = None, warmup: int = 1, start: float | None = None,
         peaks: tuple[float, float] = (1.0, 1.0), validation: str = "5,000 held-out images") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    panels = 3 if compare and planned else 2
    fig, (acc, loss, *by_decay) = plt.subplots(1, panels, figsize=(5 * panels, 4), constrained_layout=True)
    acc.plot(epochs, [100 * r["train_accuracy"] for r in records], "o-", label="train (running, during the epoch)")
    acc.plot(epochs, [100 * r["val_accuracy"] for r in records], "s-", label=f"validation ({validation})")
    if compare and start is None:  # another run's validation accuracy, epoch for epoch (both from scratch)
        name, others, _ = compare
        acc.plot([r["epoch"] for r in others], [100 * r["val_accuracy"] for r in others], ".--", color="gray",
                 alpha=0.7, label=f"validation, {name}")
    if start is not None:  # a run from trained weights (--init-from): where it began, on validation
        acc.axhline(start, color="C1", ls="-.", lw=1, label=f"validation of the starting point: {start:.2f} %")
    acc.axhline(PAPER_FLOAT, color="gray", ls="--", lw=1, label=f"paper, float test: {PAPER_FLOAT:.1f} %")
    acc.axhline(PAPER_FIXED, color="gray", ls=":", lw=1, label=f"paper, QAFT fixed point test: {PAPER_FIXED:.2f} %")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    loss.plot(epochs, [r["train_loss"] for r in records], "o-", label="train (running)")
    loss.plot(epochs, [r["val_loss"] for r in records], "s-", label="validation")
    loss.set(xlabel="epoch", ylabel="cross-entropy (nats per image)", title="loss")
    for ax in (acc, loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlim(0, max(planned or 0, epochs[-1]) + 0.5)  # the whole planned run, so progress reads at a glance
    if by_decay:
        ax, (name, others, other_planned) = by_decay[0], compare
        high = max(peaks)
        points = []
        for runs, length, peak, style, label, look in (
                (records, planned, peaks[0], "s-", "this run", {"color": "C1"}),
                (others, other_planned, peaks[1], ".--", name, {"color": "gray", "alpha": 0.7})):
            peak_note = f", peak {peak:g}" if peaks[0] != peaks[1] else ""
            xs = [on_schedule(decay_done(r["epoch"], length, warmup), peak, high) for r in runs]
            ys = [100 * r["val_accuracy"] for r in runs]
            ax.plot(xs, ys, style, label=f"{label} ({length} epochs{peak_note})", **look)
            points.append((xs, ys))
        ax.axhline(PAPER_FIXED, color="gray", ls=":", lw=1)
        where = f" on the peak-{high:g} schedule" if peaks[0] != peaks[1] else ""
        left = min(points[0][0]) - 5 if peaks[0] < high else -2  # a run from a lower peak: its part only
        seen = [y for xs, ys in points for x, y in zip(xs, ys) if x >= left] + [PAPER_FIXED]
        ax.set(xlabel=f"cosine decay done{where} (%)", ylabel="validation accuracy (%)",
               title="validation, where the learning rates are equal", xlim=(left, 102),
               ylim=(min(seen) - 1, max(seen) + 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, help="metrics.jsonl of a training workdir")
    parser.add_argument("--out", type=Path, default=Path("experiments/scifar/curve.png"), help="PNG to write")
    parser.add_argument("--title", default="s4d-265k on sCIFAR (CPU)")
    parser.add_argument("--epochs", type=int, default=None, help="planned epochs: the x axis spans them")
    parser.add_argument("--compare", type=Path, default=None,
                        help="metrics.jsonl of another run whose validation accuracy is drawn beside")
    parser.add_argument("--compare-name", default=None,
                        help="the other run's name in the legend (default: its file name without _metrics)")
    parser.add_argument("--compare-epochs", type=int, default=None,
                        help="the other run's planned epochs (with --epochs: the panel against the decay done)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up epochs of both runs")
    parser.add_argument("--start", type=float, default=None, metavar="PERCENT",
                        help="validation accuracy of the weights the run started from (--init-from), drawn as a line")
    parser.add_argument("--validation", default="5,000 held-out images",
                        help="what the validation images are, for the legend (a run trained on them says so)")
    parser.add_argument("--peak", type=float, default=1.0, help="this run's peak learning rate (dense group)")
    parser.add_argument("--compare-peak", type=float, default=None,
                        help="the other run's peak learning rate (default: the same as --peak)")
    args = parser.parse_args(argv)
    peaks = (args.peak, args.peak if args.compare_peak is None else args.compare_peak)
    try:
        records = read_metrics(args.metrics)
        compare = None
        if args.compare:
            others = read_metrics(args.compare)
            name = args.compare_name or args.compare.stem.removesuffix("_metrics")
            compare = (name, others, args.compare_epochs or others[-1]["epoch"])
        for length in (args.epochs, compare and compare[2]):
            if length is not None and length <= args.warmup:
                raise ValueError(f"a run of {length} epochs has no cosine decay after {args.warmup} of warm-up")
        if not min(peaks) > 0:
            raise ValueError(f"peak learning rates must be positive, got {peaks[0]:g} and {peaks[1]:g}")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plot(records, args.out, args.title, args.epochs, compare, args.warmup, args.start, peaks, args.validation)
    best = max(records, key=lambda r: r["val_accuracy"])
    print(f"{len(records)} epochs; best validation {100 * best['val_accuracy']:.2f} % at epoch {best['epoch']}; "
          f"wrote {args.out}")
    if compare and args.epochs:
        last, (name, others, other_planned) = records[-1], compare
        high = max(peaks)
        t = on_schedule(decay_done(last["epoch"], args.epochs, args.warmup), peaks[0], high)
        other = val_at_decay(others, other_planned, args.warmup, t, peaks[1], high)
        where = f"{other:.1f} %" if other is not None else "no figure (outside its epochs)"
        print(f"at equal learning rate ({t:.1f} % of the decay{f' at peak {high:g}' if peaks[0] != peaks[1] else ''}, "
              f"after epoch {last['epoch']}): this run {100 * last['val_accuracy']:.1f} %, {name} {where} "
              f"(linear between its epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
