"""Compiling a MODEL for Loihi 2: what `s4d compile` and `Model.compile` both run, so they report the same fields.

Resolution (zoo name, exported directory, or a checkpoint exported in a child process) and the choice of
simulated sequences live here; the compiler library itself only ever sees an exported model.
"""
from __future__ import annotations

import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from compiler.resources import MAX_CHIPS


@dataclass(frozen=True)
class CompileReport(Mapping):
    """The figures of a compilation, exactly the JSON object `s4d compile --json` prints (`report["neurocores"]`
    or `report.neurocores`), with the compilation they describe (`report.compiled`: graph, allocation,
    schedule, estimate)."""

    fields: dict
    compiled: object

    def __getitem__(self, key: str):
        return self.fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getattr__(self, name: str):
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"the compile report has no field {name!r}; fields: {sorted(fields)}")

    def to_dict(self) -> dict:
        return dict(self.fields)

    def text(self) -> str:
        """The human-readable report `s4d compile` prints without --json."""
        from compiler.pipeline import format_report

        return format_report(self.compiled, self.fields)


def check_options(*, mode: str = "pipelined", objective: str = "latency", max_chips: int = MAX_CHIPS,
                  cores: int | None = None, plot: Path | None = None, activity: int = 1, simulate: int = 0,
                  neuron: str | None = None, flag=lambda name: name) -> None:
    """Refuse bad compile options before any work (a checkpoint's export, activity measurement, Lava) runs.
    `flag` names an option in the messages: the parameter's own name, or its command-line flag."""
    from compiler.allocate import OBJECTIVES
    from compiler.fixed_point import NEURONS
    from compiler.outputs import check_writable
    from compiler.schedule import MODES

    for name, value, low in (("simulate", simulate, 0), ("activity", activity, 0), ("max_chips", max_chips, 1),
                             ("cores", cores, 1)):
        if value is not None and value < low:
            raise ValueError(f"{flag(name)} must be ≥ {low}, got {value}")
    for name, value, allowed in (("mode", mode, MODES), ("objective", objective, OBJECTIVES),
                                 ("neuron", neuron, NEURONS)):
        if value is not None and value not in allowed:
            raise ValueError(f"{flag(name)} must be one of {' | '.join(allowed)}, got {value!r}")
    if plot is not None:
        if Path(plot).suffix.lower() != ".png":
            raise ValueError(f"{flag('plot')} writes a PNG; give a file name ending in .png, got {plot}")
        check_writable(flag("plot"), Path(plot))


def compile_model(model: str | Path, *, mode: str = "pipelined", objective: str = "latency",
                  max_chips: int = MAX_CHIPS, cores: int | None = None, sweep: bool = False,
                  plot: Path | None = None, activity: int = 1, simulate: int = 0, inputs: Path | None = None,
                  data_dir: Path | None = None, out: Path | None = None, force: bool = False,
                  progress: bool = False, neuron: str | None = None) -> CompileReport:
    """Map MODEL onto Loihi 2 neurocores (objective "latency": the per-core work budget calibrated to the paper,
    or "cores": fewest; `cores` spreads it over N). `activity` test sequences measure how often values are
    non-zero (0: assume all are); `sweep` maps over a range of core counts, `plot` draws that sweep and the
    load of every core to a PNG; `simulate` N runs N sequences in Lava's fixed-point simulation and compares
    every token with the spec's reference; `out` receives ir.json, allocation.json and report.json (a
    directory holding other files only with `force`, and then only those three are replaced)."""
    from compiler.calibration import paper_comparison
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.outputs import check_out_dir
    from compiler.pipeline import OUTPUT_FILES, compile_graph, summary, sweep as sweep_points, write_outputs
    from s4d import samples
    from s4d.resolve import exported_dir, exported_for_neuron

    check_options(mode=mode, objective=objective, max_chips=max_chips, cores=cores, plot=plot, activity=activity,
                  simulate=simulate, neuron=neuron)
    if out is not None:
        check_out_dir(Path(out), OUTPUT_FILES, force)  # refused before anything runs
    with tempfile.TemporaryDirectory(prefix="s4d-compile-") as scratch:
        directory = exported_dir(str(model), Path(scratch))
        exported = load_exported(exported_for_neuron(directory, neuron, Path(scratch), data_dir))
        graph = from_exported(exported)
        rates, measured_on = None, None
        if activity:
            try:
                x, _, origin = samples.select(directory, exported.manifest, activity, inputs, data_dir)
            except (ValueError, OSError, ModuleNotFoundError):
                if inputs is not None:
                    raise  # the user's own file is wrong: say so rather than assume full activity
                x = None
            if x is not None:
                rates = _measure_activity(exported.network, x[:activity], progress)
                measured_on = f"on {len(x[:activity])} sequence(s) of {x.shape[1]} tokens ({origin})"
        compiled = compile_graph(graph, mode, objective, max_chips, cores, rates)
        result = summary(compiled)
        if measured_on:
            result["activity"]["source"] += f", {measured_on}"
        result["model"] = str(model if directory.is_relative_to(scratch) else directory)
        result["paper_comparison"] = paper_comparison()
        if sweep or plot is not None:
            result["sweep"] = sweep_points(graph, mode, rates, max_chips)
        if simulate:
            x, labels, source = samples.select(directory, exported.manifest, simulate, inputs, data_dir)
            result["simulated_inputs"] = source
            result.update(_simulate(compiled, exported.network, x, labels, progress))
    if plot is not None:
        from compiler.plot import plot_report

        result["plot"] = str(plot_report(result["sweep"], compiled.allocation, plot,
                                             f"{model} ({mode}, objective {objective})"))
    if out is not None:
        result["out"] = str(write_outputs(out, compiled, result, force))
    return CompileReport(result, compiled)


def disagreement(result: Mapping) -> str | None:
    """The one line a command ends with (exit status 1, after its report) when a simulation it ran in Lava was
    not bit-exact with the fixed-point reference; None when it was, or when nothing was simulated."""
    if result.get("bit_exact", True):
        return None
    where = result.get("first_mismatch")
    at = f", first at sequence {where['sequence']}, token {where['token']}" if where else ""
    return f"error: Lava and the fixed-point reference disagree{at}"


def progress_bar(total: int, desc: str, unit: str, progress: bool = True):
    """A progress bar on stderr, only where a terminal redraws it: in a log or a pipe its redraws would be
    noise, and an error must stay the one line on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                disable=not (progress and sys.stderr.isatty()))


def _measure_activity(network, x, progress: bool) -> dict:
    """compiler.activity.measure with a bar: the reference runs whole Lava matrices per token (about 10 ms a
    token and sequence at the s4d-265k shape), so sCIFAR sequences of 1,024 tokens take tens of seconds."""
    from compiler.activity import measure

    with progress_bar(x.shape[1], "activity", "token", progress) as bar:
        return measure(network, x, progress=bar.update)


def _simulate(compiled, network, x, labels, progress: bool) -> dict:
    from compiler.pipeline import verify

    steps = compiled.schedule.total_steps(x.shape[0] * x.shape[1])
    with progress_bar(steps, "lava", "step", progress) as bar, warnings.catch_warnings():
        # Lava forks one OS process per Lava process; once JAX has run in this process (the Python API), JAX
        # warns that forking a multithreaded process may deadlock. The children run only the NumPy process
        # models of compiler/lava and never call JAX, so the warning does not apply to them.
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        return verify(compiled, network, x, labels, progress=bar.update)
