"""`s4d quantize` (PTQ or QAFT, with accuracies) and `s4d export` (the directory the compiler reads)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from compiler.outputs import check_writable
from s4d.cli.train import DATA_DIR_HELP as DATA_HELP, SOURCE_DIR_HELP as SOURCE_HELP, load_model_and_task

NEURON_HELP = "S4D neuron in fixed point: split (C in synapses) or folded (C in the neuron, docs/fixed_point.md §4)"


BEFORE_QAFT = "before_qaft.json"  # in a QAFT workdir: the float and PTQ test figures of its run


def _figures_before_qaft(record: Optional[Path], key: dict) -> Optional[dict]:
    """The float and PTQ test figures a QAFT workdir recorded for this model, calibration and test subset, so
    that a resumed run does not evaluate the test set again (45 min in fixed point for sCIFAR); None if it has
    none. A workdir started for another model, calibration or data subset is refused: its QAFT state belongs
    to that one."""
    if record is None or not record.is_file():
        return None
    try:
        saved = json.loads(record.read_text())
        saved_key, figures = saved["key"], saved["figures"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{record} is not a record of this tool; remove it or choose another --qaft-workdir")
    if saved_key != key:
        raise ValueError(f"--qaft-workdir {record.parent} was started for {saved_key}, not {key}")
    return figures


def _check_new(option: str, target: Optional[Path]) -> None:
    """Refuse an output path before any work: it must not exist, and its parent must be writable."""
    if target is None:
        return
    if target.exists():
        raise FileExistsError(f"{option} {target} already exists; choose a new path or remove it first")
    check_writable(option, target)


def _split(task: str, name: str, meta: dict, data_dir, source_dir):
    from s4d_jax import data

    return data.load(task, name, data_dir=data_dir, source_dir=source_dir,
                     permutation_seed=meta.get("permutation_seed"))


def quantize(
    model: str = typer.Argument(..., help="params directory, training workdir, exported model or zoo name"),
    method: str = typer.Option("ptq", help="ptq or qaft"),
    neuron: str = typer.Option("split", help=NEURON_HELP),
    calib: int = typer.Option(256, help="calibration sequences (first N of the training split)"),
    epochs: int = typer.Option(1, help="QAFT epochs over the fine-tuning subset"),
    train_limit: int = typer.Option(2000, help="QAFT: fine-tune on the first N training sequences"),
    batch_size: int = typer.Option(16, help="QAFT batch size"),
    learning_rate: float = typer.Option(1e-4, help="QAFT learning rate"),
    val_limit: int = typer.Option(1000, help="QAFT: validation sequences for the fixed accuracy per epoch"),
    qaft_workdir: Optional[Path] = typer.Option(None, help="QAFT: checkpoint here (every epoch, and inside one "
                                                "every --checkpoint-every-min); run again with the same settings "
                                                "to continue after a kill"),
    checkpoint_every_min: float = typer.Option(10.0, help="QAFT with --qaft-workdir: also checkpoint inside an "
                                               "epoch after this many minutes (0: after every step)"),
    limit: Optional[int] = typer.Option(None, help="evaluate only the first N test examples"),
    task: Optional[str] = typer.Option(None, help="task (default: the model's own)"),
    out: Optional[Path] = typer.Option(None, help="write the exported model here"),
    save_params: Optional[Path] = typer.Option(None, help="also write the (fine-tuned) float params here, "
                                               "as a params directory"),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_HELP),
    source_dir: Optional[Path] = typer.Option(None, help=SOURCE_HELP),
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Quantize a model (PTQ, or PTQ then QAFT) and report float and fixed-point test accuracies."""
    from s4d_jax import export, quantize as q_lib
    from s4d_jax.checkpoint import check_interval
    from s4d_jax.evaluate import evaluate
    from zoo.registry import write_text_atomic

    if method not in ("ptq", "qaft"):
        raise ValueError(f"--method must be ptq or qaft, got {method!r}")
    _check_neuron(neuron)
    check_interval(checkpoint_every_min)
    for option, target in (("--out", out), ("--save-params", save_params)):
        _check_new(option, target)
    path, config, params, meta, task = load_model_and_task(model, task, limit=limit)
    settings = q_lib.QaftConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    if method == "qaft" and train_limit < batch_size:
        raise ValueError(f"--train-limit {train_limit} is smaller than one QAFT batch of {batch_size}")
    if method == "qaft" and val_limit < 1:
        raise ValueError(f"--val-limit must be positive, got {val_limit}")
    before_file = None
    if method == "qaft" and qaft_workdir is not None:
        before_file = q_lib.prepare_qaft_workdir(qaft_workdir, settings) / BEFORE_QAFT
    log = (lambda m: print(m, file=sys.stderr)) if json_output else print
    start = time.time()
    test = _split(task, "test", meta, data_dir, source_dir)
    calib_x = q_lib.calibration_sequences(task, calib, meta, data_dir=data_dir, source_dir=source_dir)
    result = {"model": str(path), "task": task, "method": method, "neuron": neuron, "calib": calib}
    key = {k: result[k] for k in ("model", "task", "neuron", "calib")} | {
        "limit": limit, "train_limit": train_limit, "val_limit": val_limit}
    before = _figures_before_qaft(before_file, key)  # refuses another run's workdir before calibrating
    q, exps = q_lib.ptq(config, params, calib_x, neuron=neuron)
    if before is None:
        before = {"float_accuracy": evaluate(config, params, test, mode="conv", limit=limit)["accuracy"]}
        log(f"float (conv) test accuracy {before['float_accuracy']:.4f}")
        began = time.time()
        before["ptq_fixed_accuracy"] = evaluate(config, q, test, mode="fixed", batch_size=500, limit=limit,
                                                progress=True)["accuracy"]
        before["fixed_eval_seconds"] = round(time.time() - began, 1)
        if before_file is not None:  # whole or not at all: a kill while writing leaves no half record
            write_text_atomic(before_file, json.dumps({"key": key, "figures": before}) + "\n")
    else:
        log(f"float (conv) test accuracy {before['float_accuracy']:.4f}, as {before_file} recorded")
    result.update(before)
    log(f"PTQ fixed test accuracy {result['ptq_fixed_accuracy']:.4f} ({result['fixed_eval_seconds']} s)")
    if method == "qaft":
        train = _split(task, "train", meta, data_dir, source_dir)
        val = _split(task, "validation", meta, data_dir, source_dir)
        n_train, n_val = min(train_limit, len(train)), min(val_limit, len(val))
        evaluation = (val.sequences[:n_val] / 255.0, val.labels[:n_val])
        # where QAFT's history starts: the PTQ model on the same validation subset, so that the choice between
        # the two can be made on validation, before the test figures are looked at
        result["ptq_fixed_validation_accuracy"] = q_lib.fixed_accuracy(q, *evaluation)
        log(f"PTQ fixed validation accuracy {result['ptq_fixed_validation_accuracy']:.4f} (first {n_val})")
        params, history = q_lib.qaft(
            config, params, exps, (train.sequences[:n_train] / 255.0, train.labels[:n_train]), evaluation,
            settings,
            log=lambda e: log(f"QAFT epoch {e['epoch']}: loss {e['loss']:.4f}, fixed validation accuracy "
                              f"{e['fixed_accuracy']:.4f}"), progress=True, workdir=qaft_workdir, neuron=neuron,
            checkpoint_every_min=checkpoint_every_min)
        q = q_lib.quantize(config, params, exps, neuron=neuron)
        result.update({"qaft": {"epochs": epochs, "train_sequences": n_train, "validation_sequences": n_val,
                                "batch_size": batch_size, "learning_rate": learning_rate, "history": history},
                       "qaft_float_accuracy": evaluate(config, params, test, mode="conv", limit=limit)["accuracy"],
                       "qaft_fixed_accuracy": evaluate(config, q, test, mode="fixed", batch_size=500, limit=limit,
                                                       progress=True)["accuracy"]})
        log(f"QAFT float test accuracy {result['qaft_float_accuracy']:.4f}, "
            f"fixed {result['qaft_fixed_accuracy']:.4f}")
    result["fixed_accuracy"] = result.get("qaft_fixed_accuracy", result["ptq_fixed_accuracy"])
    result["n_test"] = len(test) if limit is None else min(limit, len(test))
    result["seconds"] = round(time.time() - start, 1)
    summary = {k: v for k, v in result.items() if k != "model"}  # recorded with what is written
    if out is not None:
        export.write_exported(out, q, params, task=task, meta=meta, quantization=summary)
        result["out"] = str(out)
        log(f"wrote {out}")
    if save_params is not None:
        from s4d_jax.checkpoint import save_params as save

        save(save_params, config, params, {**meta, "quantization": summary})
        result["params"] = str(save_params)
        log(f"wrote {save_params}")
    if json_output:
        print(json.dumps(result))


def export_model(
    model: str = typer.Argument(..., help="params directory, training workdir, exported model or zoo name"),
    out: Path = typer.Option(..., help="directory to write"),
    calib: int = typer.Option(256, help="calibration sequences for PTQ"),
    neuron: Optional[str] = typer.Option(None, help=NEURON_HELP + "; default: an exported model's own, else split"),
    task: Optional[str] = typer.Option(None, help="task (default: the model's own)"),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_HELP),
    source_dir: Optional[Path] = typer.Option(None, help=SOURCE_HELP),
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Write the exported model directory (PTQ of a float model; an exported model is copied as it is)."""
    from s4d_jax import export, quantize as q_lib

    _check_new("--out", out)
    if neuron is not None:
        _check_neuron(neuron)
    path, config, params, meta, task = load_model_and_task(model, task, "export")  # a zoo model's shipped integers
    q = q_lib.resolve_quantized(path, config, params, meta, task, calib=calib, data_dir=data_dir,
                                source_dir=source_dir, neuron=neuron)
    shipped = export.is_exported(path) and export.load_quantized(path).neuron == q.neuron
    quantization = (json.loads((path / export.MANIFEST).read_text()).get("quantization", {}) if shipped
                    else {"method": "ptq", "calib": calib, "neuron": q.neuron})
    export.write_exported(out, q, params, task=task, meta=meta, quantization=quantization)
    if json_output:
        print(json.dumps({"model": str(path), "out": str(out), "task": task, "quantization": quantization}))
    else:
        print(f"wrote {out}")


def _check_neuron(neuron: str) -> None:
    from s4d_jax.fixed import NEURONS

    if neuron not in NEURONS:
        raise ValueError(f"--neuron must be one of {' | '.join(NEURONS)}, got {neuron!r}")


def register(app: typer.Typer) -> None:
    app.command()(quantize)
    app.command("export")(export_model)
