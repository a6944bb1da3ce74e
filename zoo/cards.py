"""Model cards, rendered from the registry so that a card never disagrees with the registry's numbers.

A figure that has not been measured reads "not measured yet"; nothing else stands in for it. Each card opens
with the YAML front matter model hubs read (license, datasets, tags, and the measured accuracies as a
model-index); strings there are JSON-quoted, which YAML reads as they are.
"""
from __future__ import annotations

import json

from zoo.registry import ACCURACY_KINDS, ZooEntry

LICENSE = "apache-2.0"  # the repository's LICENSE; the shipped weights are under the same terms
TAGS = ("s4d", "state-space-model", "loihi2", "neuromorphic", "jax", "fixed-point")
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}

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


def front_matter(entry: ZooEntry, dataset: str) -> list[str]:
    """YAML front matter: license, datasets, tags, and every measured test accuracy (percent) as a model-index."""
    q = json.dumps
    lines = ["---", f"license: {LICENSE}", "library_name: s4d-jax", "tags:", *(f"- {t}" for t in TAGS),
             "datasets:", f"- {dataset}", "metrics:", "- accuracy", "model-index:", f"- name: {q(entry.name)}",
             "  results:", "  - task:", "      type: image-classification",
             f"      name: {q(f'sequence classification ({entry.task})')}",
             "    dataset:", f"      type: {dataset}", f"      name: {q(DATASET_NAMES.get(dataset, dataset))}",
             "      split: test", "    metrics:"]
    measured = [kind for kind in ACCURACY_KINDS if getattr(entry.accuracies, kind) is not None]
    for kind in measured:
        label = ACCURACY_LABELS[kind] + (f", {entry.accuracies.lava_sequences} test sequences" if kind == "lava"
                                         else "")
        lines += ["    - type: accuracy", f"      value: {getattr(entry.accuracies, kind)}",
                  f"      name: {q(label)}"]
    if not measured:
        lines[-1] = "    metrics: []"
    return lines + ["---", ""]


def shortfall(entry: ZooEntry) -> str:
    """The sentence a card opens its limits with when the model ships short of its goal."""
    fixed, goal = entry.accuracies.fixed, entry.goal_fixed
    if fixed is None:
        return f"Below its goal: its fixed-point test accuracy is not measured; the goal is {goal:.2f} %."
    return (f"Below its goal: {fixed:.2f} % in fixed point on the full test set, against the {goal:.2f} % it is "
            f"meant to reach.")


def _figure(value: float) -> str:
    """Three significant digits, without exponents: 1,140 · 539 · 54.6 · 0.0196."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def estimate_range(pair, unit: str) -> str:
    """An estimate's [low, high] as text: "54.6–539 µs"."""
    return f"{_figure(pair[0])}–{_figure(pair[1])} {unit}"


def loihi2_lines(entry: ZooEntry) -> list[str]:
    """The card's Loihi 2 section: the compile summary of the shipped export, estimates labelled as such."""
    head = ["## On Loihi 2", ""]
    s = entry.loihi2
    if s is None:
        return head + [f"Not compiled yet: once the model ships, `s4d zoo record {entry.name} --compile` records "
                       f"what `s4d compile {entry.name}` reports.", ""]
    chips = f"{s.chips} chip" + ("s" if s.chips > 1 else "")
    return head + [
        f"`s4d compile {entry.name}` ({s.mode}, objective {s.objective}, {s.neuron} S4D neuron):", "",
        "| | |", "|---|---|",
        f"| neurocores | {s.neurocores} on {chips} |",
        f"| latency | {s.latency_steps} time steps from a token to its readout |",
        f"| synaptic memory | {s.synaptic_memory_bytes:,} bytes |",
        f"| latency per token, estimated | {estimate_range(s.estimated_latency_us_per_token_range, 'µs')} |",
        f"| energy per token, estimated | {estimate_range(s.estimated_energy_uj_per_token_range, 'µJ')} |",
        "",
        "Neurocores, steps and memory follow from the compiler's resource model of Loihi 2; latency and energy are",
        "estimates, not measurements on a chip: ranges whose per-operation constants, with their sources, are",
        "listed in docs/compiler.md.", "",
    ]


def reproduce_quantization(entry: ZooEntry) -> list[str]:
    """Steps 2 and 3 of a card's recipe: with QAFT, unless the model records a PTQ figure and none after QAFT
    (a model shipped as post-training quantized, whose archive has no qaft/)."""
    if entry.accuracies.ptq is not None and entry.accuracies.qaft is None:
        return ["2. Quantize and export without fine-tuning: `s4d quantize DIR/params --method ptq --out DIR/export`",
                "   with the settings recorded in `export/manifest.json` of the archive (`quantization`).",
                f"3. Package the two with `s4d zoo pack {entry.name} --from DIR` (DIR holding params/, export/);"]
    return ["2. Quantize, fine-tune and export: `s4d quantize DIR/params --method qaft --save-params DIR/qaft "
            "--out DIR/export`",
            "   with the QAFT settings recorded in `qaft/meta.json` of the archive (`quantization.qaft`).",
            f"3. Package the three with `s4d zoo pack {entry.name} --from DIR` (DIR holding params/, qaft/, export/);"]


def render_card(entry: ZooEntry, task: str, architecture: str, dataset: str) -> str:
    """The Markdown card of `entry`: front matter, what it is, the measured numbers, its Loihi 2 compile summary,
    how it was trained and how to reproduce it, its limits and license. `task` and `architecture` describe the
    sequences and the network in words and `dataset` names the source dataset (the zoo knows models only by
    name; the application layer, which knows the model code, supplies these)."""
    status = entry.status if entry.status == "available" else f"{entry.status}: {entry.status_reason}"
    lines = [
        *front_matter(entry, dataset),
        f"# {entry.name}", "",
        entry.description, "",
        "| | |", "|---|---|",
        f"| task | {task} |",
        f"| architecture | {architecture} |",
        f"| status | {status} |",
        *([f"| goal | ≥ {entry.goal_fixed:.2f} % test accuracy in fixed point (the paper's figure) |"]
          if entry.goal_fixed is not None else []),
        f"| packaged on | {entry.date or 'not packaged yet'} |",
        "",
        "## Measured test accuracy", "",
        "| model | accuracy |", "|---|---|",
        *(f"| {ACCURACY_LABELS[kind]} | {_accuracy(entry, kind)} |" for kind in ACCURACY_KINDS),
        "",
        *loihi2_lines(entry),
        "## How it was trained", "",
        f"- command: `{entry.training_command}`" if entry.training_command else "- command: not trained yet",
        f"- time: {entry.training_time or NOT_MEASURED}",
        "",
        "## How to reproduce", "",
        "1. Run the training command above, then keep its best checkpoint as DIR/params",
        "   (`experiments/export_run.py WORKDIR --out DIR/params`).",
        *reproduce_quantization(entry),
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
        *([f"- {shortfall(entry)} {entry.below_goal}"] if entry.below_goal and entry.short_of_goal() else []),
        *(f"- {limit}" for limit in entry.limits),
        *([f"- The Lava figure covers only {entry.accuracies.lava_sequences} test sequences: Lava's CPU "
           "simulation runs about",
           "  140–210 time steps per second on 2 cores, so the whole-test-set figure comes from the JAX fixed",
           "  mode, bit-exact against Lava on every token of those sequences."]
          if entry.accuracies.lava is not None else []),
        "",
        "## License", "",
        "Apache License 2.0 (`LICENSE` in the repository), for the code and for these weights alike.",
        "",
    ]
    return "\n".join(lines)
