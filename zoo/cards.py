"""Model cards, rendered from the registry so that a card never disagrees with the registry's numbers.

A figure that has not been measured reads "not measured yet"; nothing else stands in for it.
"""
from __future__ import annotations

from zoo.registry import ACCURACY_KINDS, ZooEntry

NOT_MEASURED = "not measured yet"
ACCURACY_LABELS = {
    "float": "float (conv mode, float32)",
    "ptq": "post-training quantization (JAX fixed mode)",
    "qaft": "after quantization-aware fine-tuning: its float weights (conv mode, float32)",
    "fixed": "exported fixed-point model (JAX fixed mode)",
    "lava": "Lava fixed-point simulation (Loihi2SimCfg fixed_pt)",
}


def _accuracy(entry: ZooEntry, kind: str) -> str:
    value = getattr(entry.accuracies, kind)
    if value is None:
        return NOT_MEASURED
    if kind == "lava":
        return f"{value:.2f} % on {entry.accuracies.lava_sequences} test sequences"
    return f"{value:.2f} %"


def render_card(entry: ZooEntry, task: str, architecture: str) -> str:
    """The Markdown card of `entry`: what it is, how it was trained, the measured numbers, how to reproduce it
    and its limits. `task` and `architecture` describe the sequences and the network in words (the zoo knows
    models only by name; the application layer, which knows the model code, writes these)."""
    status = entry.status if entry.status == "available" else f"{entry.status}: {entry.status_reason}"
    lines = [
        f"# {entry.name}", "",
        entry.description, "",
        "| | |", "|---|---|",
        f"| task | {task} |",
        f"| architecture | {architecture} |",
        f"| status | {status} |",
        f"| packaged on | {entry.date or 'not packaged yet'} |",
        "",
        "## Measured test accuracy", "",
        "| model | accuracy |", "|---|---|",
        *(f"| {ACCURACY_LABELS[kind]} | {_accuracy(entry, kind)} |" for kind in ACCURACY_KINDS),
        "",
        "## How it was trained", "",
        f"- command: `{entry.training_command}`" if entry.training_command else "- command: not trained yet",
        f"- time: {entry.training_time or NOT_MEASURED}",
        "",
        "## How to reproduce", "",
        "1. Run the training command above, then keep its best checkpoint as DIR/params",
        "   (`experiments/export_run.py WORKDIR --out DIR/params`).",
        "2. Quantize, fine-tune and export: `s4d quantize DIR/params --method qaft --save-params DIR/qaft "
        "--out DIR/export`",
        "   with the QAFT settings recorded in `qaft/meta.json` of the archive (`quantization.qaft`).",
        f"3. Package the three with `s4d zoo pack {entry.name} --from DIR` (DIR holding params/, qaft/, export/);",
        "   this writes the archive and its sha256 and size into the registry (docs/zoo.md).",
        "",
        "## Use", "",
        "```bash",
        f"s4d zoo download {entry.name}   # verified by sha256, extracted into the cache",
        f"s4d zoo info {entry.name}",
        "```",
        "",
        f"Every MODEL argument of `s4d` accepts the name `{entry.name}`. The archive also holds `samples.npz`:",
        "a few real test sequences with their labels (their source is written inside), for the offline demo.",
        "",
        "## Limits", "",
        *(f"- {limit}" for limit in entry.limits),
        "- The Lava figure covers only a few sequences: Lava's CPU simulation runs at about a hundred time steps",
        "  per second; the JAX fixed mode, checked bit-exact against Lava, gives the whole-test-set figure.",
        "",
    ]
    return "\n".join(lines)
