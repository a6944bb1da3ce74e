"""Packaging a trained model into the zoo: one call writes the archive, its registry row and its card.

    s4d zoo pack smnist-s4d-67k --from experiments/smnist_67k --accuracy float=99.1 ...

`--from DIR` takes DIR/params (required), DIR/qaft and DIR/export when present. The params are checked
against the registry row (task, permutation seed, preset) before anything is written, and the test samples
are read from the original dataset files, so the archive carries real sequences for the offline demo.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import tempfile
from pathlib import Path

from zoo.archive import CARD, PARTS, SAMPLES, archive_inputs, write_archive
from zoo.cards import render_card
from zoo.registry import (ACCURACY_KINDS, MODELS_DIR, Accuracies, Loihi2Summary, Registry, ZooEntry,
                          load_registry, write_text_atomic)
from zoo.samples import load_samples

from s4d.samples import DEFAULT_SAMPLES, build_samples, task_shape


def parse_accuracies(items: list[str]) -> dict[str, float]:
    """KIND=PERCENT pairs (e.g. fixed=99.12) as a dict; KIND is one of float, ptq, qaft, fixed, lava."""
    out = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or kind not in ACCURACY_KINDS:
            raise ValueError(f"--accuracy wants KIND=PERCENT with KIND one of {ACCURACY_KINDS}, got {item!r}")
        try:
            out[kind] = float(value)
        except ValueError:
            raise ValueError(f"--accuracy {item!r}: {value!r} is not a number") from None
    return out


def update_entry(entry: ZooEntry, *, accuracies: dict[str, float] | None = None, lava_sequences: int | None = None,
                 training_time: str | None = None, training_command: str | None = None) -> ZooEntry:
    """`entry` with the given measured figures recorded (None leaves a field as it was)."""
    given = dict(accuracies or {})
    if lava_sequences is not None:
        given["lava_sequences"] = lava_sequences  # with the Lava figure, which is refused without it
    acc = dataclasses.replace(entry.accuracies, **given)
    return dataclasses.replace(entry, accuracies=acc,
                               training_time=training_time or entry.training_time,
                               training_command=training_command or entry.training_command)


def state_the_goal(entry: ZooEntry, below_goal: str | None) -> ZooEntry:
    """`entry` with the reason it ships short of its goal (None once it reaches it), or an error when it is
    short of its goal and no reason is given."""
    if not entry.short_of_goal():
        return dataclasses.replace(entry, below_goal=None)
    if not (below_goal and below_goal.strip()):
        fixed = entry.accuracies.fixed
        reached = "has no fixed-point accuracy recorded" if fixed is None else f"reaches {fixed} % in fixed point"
        raise ValueError(f"{entry.name} {reached}, short of its goal of {entry.goal_fixed} %: record --accuracy "
                         f"fixed=PERCENT, or pass --below-goal 'why it ships anyway' (it goes on the card)")
    return dataclasses.replace(entry, below_goal=below_goal.strip())


def loihi2_summary(model: str | Path, samples: Path | None = None) -> Loihi2Summary:
    """What `s4d compile MODEL` reports (pipelined, latency objective), with the activity measured on the first
    of `samples` (default: the model's shipped samples), as the registry records it."""
    from s4d.compiling import compile_model

    return Loihi2Summary.from_report(compile_model(model, inputs=samples))


def _architecture(entry: ZooEntry) -> str:
    from s4d_jax.config import preset
    from s4d_jax.data import get_task

    task = get_task(entry.task)
    c = preset(entry.preset, d_input=task.channels, n_classes=task.n_classes)
    return (f"`{entry.preset}`: Linear({c.d_input}→{c.d_model}) → {c.n_layers} × [S4D(H={c.d_model}, N={c.d_state}, "
            f"{c.n_modes} complex modes) → ReLU → Linear({c.d_model}→{c.d_model})] → {c.pooling} pooling → "
            f"Linear({c.d_model}→{c.n_classes})")


def _task(entry: ZooEntry) -> str:
    from s4d_jax.data import get_task

    task = get_task(entry.task)
    plural = "s" if task.channels > 1 else ""
    text = (f"`{task.name}`: {task.length} tokens × {task.channels} channel{plural}, {task.n_classes} classes, "
            "pixels / 255")
    if task.permuted:
        text += f"; pixel order permuted with seed {entry.permutation_seed} (`s4d_jax.data.permutation`)"
    return text


def card_text(entry: ZooEntry) -> str:
    """The card of `entry`, with its task and architecture described from the model code."""
    from s4d_jax.data import get_task

    return render_card(entry, task=_task(entry), architecture=_architecture(entry),
                       dataset=get_task(entry.task).source)


def write_card(registry: Registry, entry: ZooEntry) -> Path:
    """Write the rendered card of `entry` into the repository (atomically)."""
    path = registry.card_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, card_text(entry))
    return path


def check_params(entry: ZooEntry, params: Path) -> dict:
    """The params directory's meta, after checking that it is the model the registry row describes."""
    from s4d_jax.checkpoint import PARAMS_FILES  # imports no JAX at module level
    from s4d_jax.config import ModelConfig, preset
    from s4d_jax.data import get_task

    missing = [name for name in PARAMS_FILES if not (params / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{params} is not a params directory (missing {', '.join(missing)})")
    meta = json.loads((params / "meta.json").read_text())
    config = ModelConfig.from_dict(json.loads((params / "config.json").read_text()))
    task = get_task(entry.task)
    if meta.get("task") != entry.task:
        raise ValueError(f"{params}: trained on task {meta.get('task')!r}, but {entry.name} is {entry.task!r}")
    if meta.get("permutation_seed") != entry.permutation_seed:
        raise ValueError(f"{params}: permutation seed {meta.get('permutation_seed')!r}, but the registry row of "
                         f"{entry.name} says {entry.permutation_seed!r}")
    want = preset(entry.preset, d_input=task.channels, n_classes=task.n_classes)
    for field in ("d_input", "n_classes", "d_model", "d_state", "n_layers"):
        if getattr(config, field) != getattr(want, field):
            raise ValueError(f"{params}: {field}={getattr(config, field)} does not match preset {entry.preset} "
                             f"({getattr(want, field)})")
    return meta


def check_export(entry: ZooEntry, export: Path) -> None:
    """Validate the exported model with the compiler's own loader and check it is for the entry's task."""
    from compiler.exported import load_exported  # the compiler imports no JAX

    exported = load_exported(export)
    if exported.task not in (None, entry.task):
        raise ValueError(f"{export}: exported for task {exported.task!r}, but {entry.name} is {entry.task!r}")
    seed = exported.manifest.get("meta", {}).get("permutation_seed", entry.permutation_seed)
    if seed != entry.permutation_seed:
        raise ValueError(f"{export}: permutation seed {seed!r}, but the registry row of {entry.name} says "
                         f"{entry.permutation_seed!r}")


def pack(name: str, *, source: Path | None = None, params: Path | None = None, qaft: Path | None = None,
         export: Path | None = None, samples: Path | None = None, n_samples: int = DEFAULT_SAMPLES,
         source_dir: str | None = None, accuracies: dict[str, float] | None = None,
         lava_sequences: int | None = None, training_time: str | None = None, date: str | None = None,
         below_goal: str | None = None, training_command: str | None = None,
         registry: Registry | None = None) -> ZooEntry:
    """Build models/NAME/NAME.zip beside the registry, mark the model available with its sha256 and size,
    record the given figures and the export's compile summary (`s4d compile`), and rewrite its card. Returns the
    new registry row.

    A model short of its goal (registry `goal_fixed`; its fixed-point accuracy below it or not given) is
    refused unless `below_goal` says why it ships anyway; its card then states the shortfall and that reason.
    `training_command` replaces the command recorded in the params' meta.json (for a run whose checkpoints
    recorded a resume line, or a path that means nothing to the reader)."""
    try:
        date = datetime.date.fromisoformat(date) if date else datetime.datetime.now(datetime.timezone.utc).date()
    except ValueError:
        raise ValueError(f"--date wants YYYY-MM-DD, got {date!r}") from None
    registry = registry or load_registry()
    entry = registry.get(name)
    folders = {"params": params, "qaft": qaft, "export": export}
    for part in PARTS:
        if folders[part] is None and source is not None and (source / part).is_dir():
            folders[part] = source / part
    if folders["params"] is None:
        raise FileNotFoundError(f"no params directory: pass --params or --from DIR with DIR/params "
                                f"({source}/params does not exist)" if source else "pass --params or --from DIR")
    folders = {part: Path(folder) for part, folder in folders.items() if folder is not None}
    meta = check_params(entry, folders["params"])
    if "qaft" in folders and (folders["qaft"] / "config.json").exists():
        check_params(entry, folders["qaft"])
    if "export" in folders:
        check_export(entry, folders["export"])
    # a new model: only its own figures, none of the row's earlier model (docs/zoo.md)
    entry = update_entry(dataclasses.replace(entry, accuracies=Accuracies(), training_time=None,
                                             training_command=None),
                         accuracies=accuracies, lava_sequences=lava_sequences, training_time=training_time,
                         training_command=training_command or meta.get("command") or None)
    entry = state_the_goal(entry, below_goal)  # a new model: its own reason, not an earlier one's
    archive = f"{MODELS_DIR}/{name}/{name}.zip"
    entry = dataclasses.replace(entry, status="available", status_reason=None, archive=archive,
                                date=date.isoformat())
    with tempfile.TemporaryDirectory() as tmp:
        if samples is None:
            samples = build_samples(entry, Path(tmp) / SAMPLES, n=n_samples, source_dir=source_dir)
        load_samples(Path(samples), shape=task_shape(entry.task))
        entry = dataclasses.replace(entry, loihi2=loihi2_summary(folders["export"], samples)
                                    if "export" in folders else None)
        card = Path(tmp) / CARD
        card.write_text(card_text(entry), encoding="utf-8")
        files = archive_inputs(folders, Path(samples), card)
        sha256, size = write_archive(registry.root / archive, files)
    entry = dataclasses.replace(entry, sha256=sha256, size=size)
    registry.replace(entry).save()
    write_card(registry, entry)
    return entry
