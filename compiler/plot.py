"""The sweep as a figure: estimated latency and energy per token against neurocores, each as a [low, high] band."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def plot_sweep(points: list[dict], path, title: str) -> Path:
    """Write a PNG with two panels (latency µs/token, energy µJ/token) over neurocores; atomic rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = [p["neurocores"] for p in points]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, label in ((axes[0], "estimated_latency_us_per_token_range", "latency per token (µs)"),
                           (axes[1], "estimated_energy_uj_per_token_range", "energy per token (µJ)")):
        low = [p[key][0] for p in points]
        high = [p[key][1] for p in points]
        ax.fill_between(cores, low, high, alpha=0.3, label="estimate range (Hala Point … Loihi 1)")
        ax.plot(cores, low, "o-", ms=3)
        ax.plot(cores, high, "o-", ms=3)
        for p in points:
            if p.get("latency_objective"):
                ax.axvline(p["neurocores"], color="grey", ls="--", lw=1, label="--objective latency")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("neurocores")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: estimates, not measurements")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
