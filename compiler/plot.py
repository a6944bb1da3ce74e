"""The compile report as a figure: the sweep (estimated latency and energy per token against neurocores, each a
[low, high] band) above the chosen mapping's load on each of its neurocores, against the core's limits."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from compiler.allocate import Allocation
from compiler.ir import layer_of


def plot_report(points: list[dict], allocation: Allocation, path, title: str) -> Path:
    """Write a PNG: the sweep's two panels, then per-core neuron ops per step (the work the latency objective
    caps) and per-core memory, each stacked by layer; atomic rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 10), constrained_layout=True)
    grid = fig.add_gridspec(3, 2, height_ratios=(1.1, 1, 1))
    _sweep_panels(points, (fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])))
    work_ax, memory_ax = fig.add_subplot(grid[1, :]), fig.add_subplot(grid[2, :])
    _per_core_panels(allocation, work_ax, memory_ax)
    fig.suptitle(f"{title}: estimates, not measurements")
    return save_png(fig, Path(path), plt)


def _sweep_panels(points: list[dict], axes) -> None:
    cores = [p["neurocores"] for p in points]
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


def per_core_by_layer(allocation: Allocation, amount) -> dict[str, list[float]]:
    """{layer: [amount(slice load) summed over the layer's slices on each core]}, cores in allocation order."""
    layers = dict.fromkeys(layer_of(s.node) for core in allocation.cores for s in core.slices)
    return {layer: [sum(amount(s.load) for s in core.slices if layer_of(s.node) == layer)
                    for core in allocation.cores] for layer in layers}


def _per_core_panels(allocation: Allocation, work_ax, memory_ax) -> None:
    """Stacked bars per core and layer: what each core holds, so an unbalanced mapping shows at a glance."""
    from matplotlib.ticker import MaxNLocator

    index = [core.index for core in allocation.cores]
    for ax, amount, limit, limit_label, unit in (
            (work_ax, lambda load: load.neuron_ops, allocation.work_cap,
             "per-core work budget (--objective latency)", "neuron ops per step"),
            (memory_ax, lambda load: load.memory_bytes / 1024, allocation.limits.core_memory_bytes / 1024,
             f"core memory ({allocation.limits.core_memory_bytes / 1024:g} KiB)",
             "memory (KiB): state + synapses + routing")):
        stacks = per_core_by_layer(allocation, amount)
        bottom = [0.0] * len(index)
        for layer, height in stacks.items():
            ax.bar(index, height, bottom=bottom, width=0.85, label=layer)
            bottom = [b + h for b, h in zip(bottom, height)]
        if limit is not None:
            ax.axhline(limit, color="black", ls="--", lw=1.2, label=limit_label, zorder=3)
        ax.set_ylim(0, 1.08 * max(limit or 0, *bottom))
        ax.set_xlabel(f"neurocore ({len(index)} on {allocation.chips} chip(s))")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))


def save_png(fig, path: Path, plt, dpi: int = 120) -> Path:
    """Write `fig` to `path` whole or not at all (a kill mid-write leaves any earlier file as it was), then
    close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for the unfinished file, not for the figure
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
