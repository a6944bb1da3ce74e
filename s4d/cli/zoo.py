"""`s4d zoo`: list, inspect, download and package the models of the zoo (no JAX is loaded)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

zoo_app = typer.Typer(no_args_is_help=True, help="Pretrained models: list, info, download, pack, record.")

JSON_HELP = "print exactly one JSON object on stdout"


def _where(entry) -> str:
    if entry.archive is not None:
        return "repository"
    return entry.url or "-"


def _describe(entry, registry) -> dict:
    from zoo.cache import cached_model

    data = entry.to_dict()
    model = cached_model(entry) if entry.sha256 else None
    data["card"] = str(registry.card_path(entry))
    data["cached"] = str(model) if model is not None and model.is_dir() else None
    return data


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2f}"


@zoo_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the models of the zoo with their status, fixed-point accuracy and Loihi 2 neurocores."""
    from zoo.registry import load_registry

    registry = load_registry()
    if as_json:
        print(json.dumps({"models": [_describe(e, registry) for e in registry.entries]}))
        return
    print(f"{'name':<21} {'task':<8} {'preset':<9} {'status':<10} {'fixed %':>7} {'cores':>5} {'size':>10}  from")
    for e in registry.entries:
        size = "-" if e.size is None else f"{e.size:,}"
        cores = "-" if e.loihi2 is None else str(e.loihi2.neurocores)
        print(f"{e.name:<21} {e.task:<8} {e.preset:<9} {e.status:<10} {_percent(e.accuracies.fixed):>7} {cores:>5} "
              f"{size:>10}  {_where(e)}")


@zoo_app.command()
def info(name: str = typer.Argument(..., help="zoo model name"),
         as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show one model's registry row, where its card is and whether it is in the cache."""
    from zoo.cards import estimate_range
    from zoo.registry import ACCURACY_KINDS, load_registry

    registry = load_registry()
    data = _describe(registry.get(name), registry)
    if as_json:
        print(json.dumps(data))
        return
    for key in ("name", "task", "preset", "permutation_seed", "status", "status_reason", "url", "archive",
                "sha256", "size", "training_command", "training_time", "date", "card", "cached"):
        if data[key] is not None:
            print(f"{key:>17}: {data[key]}")
    acc = data["accuracies"]
    figures = ", ".join(f"{k} {_percent(acc[k])}" for k in ACCURACY_KINDS)
    print(f"{'accuracy %':>17}: {figures}" + (f" (lava on {acc['lava_sequences']} sequences)"
                                              if acc["lava_sequences"] else ""))
    if (chip := data["loihi2"]) is not None:
        print(f"{'loihi2':>17}: {chip['neurocores']} neurocores on {chip['chips']} chip(s), {chip['latency_steps']} "
              f"steps, {chip['synaptic_memory_bytes']:,} B synaptic memory; "
              f"{estimate_range(chip['estimated_latency_us_per_token_range'], 'µs')} and "
              f"{estimate_range(chip['estimated_energy_uj_per_token_range'], 'µJ')} per token (estimates)")


@zoo_app.command()
def download(name: str = typer.Argument(..., help="zoo model name"),
             force: bool = typer.Option(False, "--force", help="download and extract again even if cached"),
             as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Fetch a model into the cache ($S4D_CACHE), check its sha256, extract it and print its directory."""
    from zoo.cache import fetch
    from zoo.registry import load_registry

    registry = load_registry()
    entry = registry.get(name)
    path = fetch(name, force=force, registry=registry)
    if as_json:
        print(json.dumps({"name": name, "path": str(path), "sha256": entry.sha256, "size": entry.size}))
    else:
        print(path)


COMMAND_HELP = "the training command the card shows (default: the one recorded in params/meta.json)"
ACCURACY_HELP = "measured test accuracy, KIND=PERCENT with KIND in float, ptq, qaft, fixed, lava (repeatable)"


@zoo_app.command()
def pack(
    name: str = typer.Argument(..., help="zoo model name (a row of zoo/registry.json)"),
    source: Optional[Path] = typer.Option(None, "--from", help="folder holding params/, and qaft/, export/ if any"),
    params: Optional[Path] = typer.Option(None, help="float params directory (default: FROM/params)"),
    qaft: Optional[Path] = typer.Option(None, help="QAFT params directory (default: FROM/qaft if present)"),
    export: Optional[Path] = typer.Option(None, help="exported model directory (default: FROM/export if present)"),
    samples: Optional[Path] = typer.Option(None, help="samples.npz to ship (default: built from the test split)"),
    n_samples: int = typer.Option(8, "--n-samples", help="test sequences to ship when building samples"),
    source_dir: Optional[str] = typer.Option(None, help="folder of the original dataset files"),
    accuracy: List[str] = typer.Option([], help=ACCURACY_HELP),
    lava_sequences: Optional[int] = typer.Option(None, help="how many sequences the Lava accuracy covers"),
    training_time: Optional[str] = typer.Option(None, help="e.g. '5 h 10 min on 2 CPU cores, 9 epochs'"),
    date: Optional[str] = typer.Option(None, help="packaging date (default: today, UTC)"),
    below_goal: Optional[str] = typer.Option(None, "--below-goal", help="why a model short of its goal "
                                             "(registry goal_fixed) ships anyway; stated on its card"),
    training_command: Optional[str] = typer.Option(None, help=COMMAND_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Package a trained model into zoo/models/NAME/NAME.zip and record its sha256, size and figures."""
    from s4d.zoo_pack import pack as pack_model
    from s4d.zoo_pack import parse_accuracies

    entry = pack_model(name, source=source, params=params, qaft=qaft, export=export, samples=samples,
                       n_samples=n_samples, source_dir=source_dir, accuracies=parse_accuracies(accuracy),
                       lava_sequences=lava_sequences, training_time=training_time, date=date,
                       below_goal=below_goal, training_command=training_command)
    if as_json:
        print(json.dumps(entry.to_dict()))
    else:
        print(f"packed {name}: {entry.archive}, {entry.size:,} bytes, sha256 {entry.sha256}")


@zoo_app.command()
def record(
    name: str = typer.Argument(..., help="zoo model name"),
    accuracy: List[str] = typer.Option([], help=ACCURACY_HELP),
    lava_sequences: Optional[int] = typer.Option(None, help="how many sequences the Lava accuracy covers"),
    training_time: Optional[str] = typer.Option(None, help="e.g. '5 h 10 min on 2 CPU cores, 9 epochs'"),
    training_command: Optional[str] = typer.Option(None, help=COMMAND_HELP),
    below_goal: Optional[str] = typer.Option(None, "--below-goal", help="why an available model short of its "
                                             "goal ships anyway (default: the reason already recorded)"),
    compile_summary: bool = typer.Option(False, "--compile", help="compile the shipped model (s4d compile NAME) "
                                         "and record its neurocores, memory and estimates"),
) -> None:
    """Record measured figures of a model in the registry and rewrite its card (the archive is unchanged)."""
    import dataclasses

    from s4d.zoo_pack import loihi2_summary, parse_accuracies, state_the_goal, update_entry, write_card
    from zoo.registry import load_registry

    registry = load_registry()
    entry = update_entry(registry.get(name), accuracies=parse_accuracies(accuracy), lava_sequences=lava_sequences,
                         training_time=training_time, training_command=training_command)
    if compile_summary:
        if entry.status != "available":
            raise ValueError(f"{name} is not available ({entry.status}); there is no shipped model to compile")
        entry = dataclasses.replace(entry, loihi2=loihi2_summary(name))
    if entry.status == "available":
        entry = state_the_goal(entry, below_goal or entry.below_goal)
    registry.replace(entry).save()
    print(write_card(registry, entry))


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app, name="zoo")
