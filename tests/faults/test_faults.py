"""Every input a user can get wrong, for every command: one table row per (command, fault).

Each row damages a copy of a small model (or points at nothing), runs the command and asserts what the user
must see: exit code 2, exactly one line on stderr starting with "error:" and naming the problem, no traceback,
and the workspace byte for byte as it was (no user file changed, no output or partial output left).
Most rows run the command line in this process, so JAX loads once; the rows that need a process of their own
(SIGKILL, a file size limit) start one.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from faultkit import (assert_one_line_error, bitflip, empty, limit_file_size, run_child, run_in_process,
                      tree_digest, truncate)


@dataclass(frozen=True)
class Fault:
    """`s4d ARGS` on a workspace prepared by `make(ws, world)`; the error line must match `match`."""

    id: str
    args: tuple
    match: str
    make: Callable = field(default=lambda ws, world: None)
    code: int = 2
    env: tuple = ()  # (NAME, value) pairs set for the command, formatted like args


def copy(which: str, name: str = "m", damage=None, file: str | None = None):
    """Copy the world's `which` model to ws/name and apply `damage` to one of its files."""
    def make(ws, world):
        shutil.copytree(getattr(world, which), ws / name)
        if damage is not None:
            damage(ws / name / file)
    return make


def edit_json(which: str, file: str, edit):
    def make(ws, world):
        shutil.copytree(getattr(world, which), ws / "m")
        data = json.loads((ws / "m" / file).read_text())
        edit(data)
        (ws / "m" / file).write_text(json.dumps(data))
    return make


def edit_npz(which: str, file: str, edit):
    """Rewrite one array of an npz (and, for an exported model, keep the manifest consistent with it)."""
    def make(ws, world):
        shutil.copytree(getattr(world, which), ws / "m")
        with np.load(ws / "m" / file) as npz:
            arrays = {k: npz[k] for k in npz.files}
        key = sorted(arrays)[0]
        arrays[key] = edit(arrays[key])
        np.savez(ws / "m" / file, **arrays)
    return make


def both(*makers):
    def make(ws, world):
        for m in makers:
            m(ws, world)
    return make


def user_dir(ws, world):
    (ws / "out").mkdir()
    (ws / "out" / "notes.txt").write_text("my notes\n")


def inputs(array):
    def make(ws, world):
        np.savez(ws / "in.npz", sequences=array)
    return make


def damaged_inputs(damage):
    def make(ws, world):
        np.savez(ws / "in.npz", sequences=np.zeros((1, 4, 1), np.uint8))
        damage(ws / "in.npz")
    return make


def empty_dir(ws, world):
    (ws / "m").mkdir()


def user_file(ws, world):
    (ws / "notes.txt").write_text("my notes\n")


def zoo_copy(ws, world):
    """The world's registry (with its card) and the float params of its one model, to record or pack."""
    shutil.copytree(world.zoo, ws / "zoo")
    (ws / "zoo" / "models" / "tiny-s4d").mkdir()
    (ws / "zoo" / "models" / "tiny-s4d" / "card.md").write_text("# tiny\n")
    shutil.copytree(world.params, ws / "src" / "params")


ZOO_COPY = (("S4D_ZOO_REGISTRY", "{ws}/zoo/registry.json"),)


def float64(a):
    return a.astype(np.float64)


def wrong_shape(a):
    return np.concatenate([a, a], axis=0)


MODEL_FILE_FAULTS = [  # (fault, damage, regex) for a params directory's params.npz
    ("empty file", empty, r"params\.npz|corrupt or half-written"),
    ("truncated file", truncate, r"corrupt or half-written"),
    ("bit-flipped file", bitflip, r"corrupt or half-written"),
]
EXPORT_FILE_FAULTS = [  # ... and an exported model's tensors.npz
    ("empty file", empty, r"tensors\.npz"),
    ("truncated file", truncate, r"tensors\.npz"),
    ("bit-flipped file", bitflip, r"tensors\.npz|sha256"),
]

COMPILE = ("compile",)
HW = "{ws}/m"
ROWS = [
    # -------------------------------------------------------------- eval
    Fault("eval/missing path", ("eval", "{ws}/nothing"), r"nothing.*(not an existing path|no model)"),
    Fault("eval/empty directory", ("eval", "{ws}/m"), r"neither a params directory", empty_dir),
    *(Fault(f"eval/params {f}", ("eval", "{ws}/m"), rx, copy("params", damage=d, file="params.npz"))
      for f, d, rx in MODEL_FILE_FAULTS),
    *(Fault(f"eval --mode fixed/export {f}", ("eval", "{ws}/m", "--mode", "fixed"), rx,
            copy("export", damage=d, file="tensors.npz")) for f, d, rx in EXPORT_FILE_FAULTS),
    Fault("eval/wrong shape", ("eval", "{ws}/m"), r"do not match the architecture",
          edit_npz("params", "params.npz", wrong_shape)),
    Fault("eval/wrong dtype", ("eval", "{ws}/m"), r"must be float32",
          edit_npz("params", "params.npz", float64)),
    Fault("eval --mode fixed/wrong dtype", ("eval", "{ws}/m", "--mode", "fixed"), r"dtype",
          edit_npz("export", "tensors.npz", float64)),
    Fault("eval --mode fixed/wrong shape in manifest", ("eval", "{ws}/m", "--mode", "fixed"), r"dtype/shape|shape",
          edit_json("export", "manifest.json", lambda m: m["tensors"]["encoder.bias"].update(shape=[99]))),
    Fault("eval --mode fixed/malformed widths in manifest", ("eval", "{ws}/m", "--mode", "fixed"),
          r"field 'fixed_point' is malformed", edit_json("export", "manifest.json",
                                                           lambda m: m["fixed_point"]["widths"].update(extra=1))),
    Fault("eval/wrong channel count", ("eval", "{world.params}", "--task", "scifar"),
          r"3 input channels but the model expects 1"),
    Fault("eval/out-of-range value", ("eval", "{world.params}", "--limit", "0"), r"--limit must be positive"),
    Fault("eval/unknown zoo name", ("eval", "smnist-s4d-6k"), r"no model named 'smnist-s4d-6k'.*did you mean"),
    # -------------------------------------------------------------- quantize
    Fault("quantize/missing path", ("quantize", "{ws}/nothing"), r"nothing"),
    *(Fault(f"quantize/params {f}", ("quantize", "{ws}/m"), rx, copy("params", damage=d, file="params.npz"))
      for f, d, rx in MODEL_FILE_FAULTS),
    Fault("quantize/unknown zoo name", ("quantize", "psmnist-s4d"), r"no model named"),
    Fault("quantize/out-of-range value", ("quantize", "{world.params}", "--method", "qat"), r"ptq or qaft"),
    Fault("quantize/negative checkpoint interval",
          ("quantize", "{world.params}", "--method", "qaft", "--checkpoint-every-min", "-1"), r">= 0 minutes"),
    Fault("quantize/out-of-range QAFT batch", ("quantize", "{world.params}", "--method", "qaft",
                                               "--batch-size", "0"), r"batch size must be positive"),
    Fault("quantize/QAFT batch larger than its data", ("quantize", "{world.params}", "--method", "qaft",
                                                       "--train-limit", "8"), r"smaller than one QAFT batch of 16"),
    Fault("quantize/QAFT workdir holding other files", ("quantize", "{world.params}", "--method", "qaft",
                                                        "--qaft-workdir", "{ws}/out"), r"not empty", user_dir),
    Fault("quantize/non-empty output directory", ("quantize", "{world.params}", "--out", "{ws}/out"),
          r"already exists", user_dir),
    Fault("quantize/existing --save-params", ("quantize", "{world.params}", "--save-params", "{ws}/out"),
          r"already exists", user_dir),
    # -------------------------------------------------------------- export
    Fault("export/missing path", ("export", "{ws}/nothing", "--out", "{ws}/e"), r"nothing"),
    *(Fault(f"export/exported {f}", ("export", "{ws}/m", "--out", "{ws}/e"), rx,
            copy("export", damage=d, file="tensors.npz")) for f, d, rx in EXPORT_FILE_FAULTS),
    Fault("export/wrong dtype", ("export", "{ws}/m", "--out", "{ws}/e"), r"dtype",
          edit_npz("export", "tensors.npz", float64)),
    Fault("export/unknown zoo name", ("export", "tiny", "--out", "{ws}/e"), r"no model named"),
    Fault("export/non-empty output directory", ("export", "{world.export}", "--out", "{ws}/out"),
          r"already exists", user_dir),
    # -------------------------------------------------------------- compile
    Fault("compile/missing path", ("compile", "{ws}/nothing"), r"nothing"),
    Fault("compile/empty directory", ("compile", "{ws}/m"), r"neither an exported model nor a checkpoint",
          empty_dir),
    *(Fault(f"compile/exported {f}", ("compile", "{ws}/m"), rx, copy("hw", damage=d, file="tensors.npz"))
      for f, d, rx in EXPORT_FILE_FAULTS),
    Fault("compile/truncated manifest", ("compile", "{ws}/m"), r"manifest\.json is not valid JSON",
          copy("hw", damage=truncate, file="manifest.json")),
    Fault("compile/wrong shape", ("compile", "{ws}/m"), r"tensors\.'encoder\.bias'\.shape",
          edit_json("hw", "manifest.json", lambda m: m["tensors"]["encoder.bias"].update(shape=[99]))),
    Fault("compile/wrong dtype", ("compile", "{ws}/m"), r"dtype float64 in tensors\.npz",
          edit_npz("hw", "tensors.npz", float64)),
    Fault("compile/unknown zoo name", ("compile", "smnist-s4d-67"), r"did you mean smnist-s4d-67k"),
    Fault("compile/non-empty output directory", ("compile", "{world.hw}", "--out", "{ws}/out"),
          r"holds files this tool did not write \(notes\.txt\).*--force", user_dir),
    Fault("compile --simulate/missing --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                   "{ws}/nothing.npz"), r"no samples file"),
    *(Fault(f"compile --simulate/{f} --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                 "{ws}/in.npz"), r"in\.npz cannot be read", damaged_inputs(d))
      for f, d in (("empty", empty), ("truncated", truncate))),
    Fault("compile --simulate/bit-flipped --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                      "{ws}/in.npz"), r"in\.npz", damaged_inputs(bitflip)),
    Fault("compile --simulate/wrong shape --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                      "{ws}/in.npz"), r"integers \[n, length, channels\]",
          inputs(np.zeros((4, 1), np.uint8))),
    Fault("compile --simulate/wrong dtype --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                      "{ws}/in.npz"), r"must be integers", inputs(np.zeros((1, 4, 1)))),
    Fault("compile --simulate/wrong channel count --inputs", ("compile", "{world.hw}", "--simulate", "1",
                                                              "--inputs", "{ws}/in.npz"),
          r"3 channel\(s\) per token, the model takes 1", inputs(np.zeros((1, 10, 3), np.uint8))),
    Fault("compile --simulate/out-of-range --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                                       "{ws}/in.npz"), r"values span \[300, 300\].*\[0, 255\]",
          inputs(np.full((1, 4, 1), 300, np.int32))),
    Fault("compile --simulate/.npy --inputs", ("compile", "{world.hw}", "--simulate", "1", "--inputs",
                                               "{ws}/in.npy"), r"in\.npy: a \.npz archive is needed",
          lambda ws, world: np.save(ws / "in.npy", np.zeros((1, 4, 1), np.uint8))),
    Fault("compile/out-of-range value", ("compile", "{world.hw}", "--max-chips", "0"), r"--max-chips"),
    Fault("compile/unknown mode", ("compile", "{world.params}", "--mode", "fast"),
          r"--mode must be one of pipelined \| fall-through, got 'fast'"),
    Fault("compile/unknown objective", ("compile", "{world.params}", "--objective", "speed"),
          r"--objective must be one of latency \| cores"),
    Fault("compile/--out is a file", ("compile", "{world.hw}", "--out", "{ws}/notes.txt"),
          r"notes\.txt exists and is not a directory", user_file),
    Fault("compile/--plot not a PNG", ("compile", "{world.hw}", "--plot", "{ws}/notes.txt"),
          r"--plot writes a PNG.*notes\.txt", user_file),
    # -------------------------------------------------------------- train
    Fault("train/non-empty output directory", ("train", "--workdir", "{ws}/out"), r"not empty.*--resume", user_dir),
    Fault("train/--resume of a non-workdir", ("train", "--workdir", "{ws}/out", "--resume"),
          r"not a training workdir", user_dir),
    Fault("train/missing --init-from", ("train", "--workdir", "{ws}/w", "--init-from", "{ws}/nothing"), r"nothing"),
    Fault("train/truncated --init-from", ("train", "--workdir", "{ws}/w", "--init-from", "{ws}/m"),
          r"corrupt or half-written", copy("params", damage=truncate, file="params.npz")),
    Fault("train/wrong shape --init-from", ("train", "--workdir", "{ws}/w", "--init-from", "{world.params}"),
          r"this run trains"),
    Fault("train/unknown zoo name --init-from", ("train", "--workdir", "{ws}/w", "--init-from", "smnist"),
          r"no model named"),
    Fault("train/out-of-range value", ("train", "--workdir", "{ws}/w", "--task", "cifar"), r"unknown task"),
    Fault("train/negative checkpoint interval", ("train", "--workdir", "{ws}/w", "--checkpoint-every-min", "-1"),
          r">= 0 minutes"),
    # -------------------------------------------------------------- zoo
    Fault("zoo info/unknown zoo name", ("zoo", "info", "psmnist"), r"no model named 'psmnist'"),
    Fault("zoo download/unknown zoo name", ("zoo", "download", "smnist-s4d-68k"), r"did you mean"),
    *(Fault(f"zoo record/--accuracy {value}", ("zoo", "record", "tiny-s4d", "--accuracy", value), rx, zoo_copy,
            env=ZOO_COPY)
      for value, rx in (("fixed=abc", r"'abc' is not a number"), ("fixd=99", r"KIND=PERCENT.*got 'fixd=99'"),
                        ("fixed=140", r"percentage in \[0, 100\].*140"))),
    Fault("zoo pack/malformed --date", ("zoo", "pack", "tiny-s4d", "--from", "{ws}/src", "--accuracy", "fixed=99",
                                        "--date", "2026-13-45"), r"--date wants YYYY-MM-DD, got '2026-13-45'",
          zoo_copy, env=ZOO_COPY),
    Fault("zoo pack/params of another size", ("zoo", "pack", "tiny-s4d", "--from", "{ws}/src", "--accuracy",
                                              "fixed=99"), r"d_model=4 does not match preset s4d-67k \(64\)",
          zoo_copy, env=ZOO_COPY),
    # -------------------------------------------------------------- demo, bench
    Fault("demo/missing path", ("demo", "--model", "{ws}/nothing"), r"nothing"),
    Fault("demo/truncated export", ("demo", "--model", "{ws}/m"), r"tensors\.npz",
          copy("hw", damage=truncate, file="tensors.npz")),
    Fault("demo/unknown zoo name", ("demo", "--model", "smnist-s4d"), r"no model named"),
    Fault("demo/out-of-range value", ("demo", "--sequences", "0"), r"--sequences must be"),
    Fault("demo/unknown mode", ("demo", "--mode", "fast"), r"--mode must be one of pipelined \| fall-through"),
    Fault("bench/out-of-range value", ("bench", "--repeats", "0"), r"--repeats must be"),
    Fault("bench/unknown preset", ("bench", "--size", "s4d-1m"), r"unknown size"),
]


def _args(args, ws, world):
    return [a.format(ws=ws, world=world) for a in args]


@pytest.mark.parametrize("fault", ROWS, ids=lambda f: f.id)
def test_fault(fault, world, tmp_path, capfd, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    fault.make(ws, world)
    monkeypatch.setenv("S4D_CACHE", str(tmp_path / "cache"))  # zoo names resolve without touching ~/.cache
    for name, value in fault.env:
        monkeypatch.setenv(name, value.format(ws=ws, world=world))
    before, inputs_before = tree_digest(ws), tree_digest(world.params.parent)
    result = run_in_process(capfd, monkeypatch, _args(fault.args, ws, world))
    assert_one_line_error(result, fault.match, fault.code)
    assert tree_digest(ws) == before  # nothing changed, nothing (not even a hidden temporary) left
    assert tree_digest(world.params.parent) == inputs_before  # nor in the models the command read


# ---------------------------------------------------------------- zoo downloads of a damaged archive

@pytest.mark.parametrize("damage", [empty, truncate, bitflip], ids=lambda d: f"zoo download/{d.__name__} archive")
def test_zoo_download_of_a_damaged_archive(damage, world, tmp_path, capfd, monkeypatch):
    served = tmp_path / "served.zip"
    shutil.copy(world.zoo / "models" / "tiny.zip", served)
    damage(served)
    registry = json.loads((world.zoo / "registry.json").read_text())
    registry["models"][0]["url"] = served.as_uri()
    (tmp_path / "registry.json").write_text(json.dumps(registry))
    monkeypatch.setenv("S4D_ZOO_REGISTRY", str(tmp_path / "registry.json"))
    monkeypatch.setenv("S4D_CACHE", str(tmp_path / "cache"))
    result = run_in_process(capfd, monkeypatch, ["zoo", "download", "tiny-s4d"])
    assert_one_line_error(result, r"download of tiny-s4d .* failed, nothing was kept")
    assert not list((tmp_path / "cache").glob("archives/*")) and not list((tmp_path / "cache").glob("models/*"))


# ---------------------------------------------------------------- outputs onto a read-only mount

READ_ONLY = [
    ("compile", ("compile", "{world.hw}", "--out", "{ro}/out"), r"not writable"),
    ("compile --plot", ("compile", "{world.hw}", "--plot", "{ro}/report.png"), r"--plot .* not writable"),
    ("export", ("export", "{world.export}", "--out", "{ro}/out"), r"not writable"),
    ("quantize", ("quantize", "{world.params}", "--out", "{ro}/out"), r"not writable"),
    ("train", ("train", "--workdir", "{ro}/w"), r"Read-only file system|not writable"),
    ("zoo download", ("zoo", "download", "tiny-s4d"), r"Read-only file system|not writable"),
]


@pytest.mark.parametrize("row", READ_ONLY, ids=lambda r: f"{r[0]}/read-only output directory")
def test_read_only_output_directory(row, world, read_only_dir, capfd, monkeypatch):
    _, args, match = row
    monkeypatch.setenv("S4D_ZOO_REGISTRY", str(world.zoo / "registry.json"))
    monkeypatch.setenv("S4D_CACHE", str(read_only_dir / "cache"))
    before = tree_digest(read_only_dir)
    result = run_in_process(capfd, monkeypatch, [a.format(world=world, ro=read_only_dir) for a in args])
    assert_one_line_error(result, match)
    assert tree_digest(read_only_dir) == before


# ---------------------------------------------------------------- a full disk

FULL = [
    ("export", ("export", "{world.export}", "--out", "{full}/out")),
    ("compile", ("compile", "{world.hw}", "--out", "{full}/out")),
    ("zoo download", ("zoo", "download", "tiny-s4d")),
]


@pytest.mark.parametrize("row", FULL, ids=lambda r: f"{r[0]}/full disk")
def test_full_disk(row, world, full_disk):
    """In a process of its own: what a failed write leaves for the interpreter's exit must print nothing."""
    how, where = full_disk
    _, args, = row
    args = [a.format(world=world, full=where) for a in args]
    env = {"S4D_ZOO_REGISTRY": str(world.zoo / "registry.json"), "S4D_CACHE": str(where / "cache")}
    before = tree_digest(where, files_only=True)
    result = run_child(args, env=env, preexec_fn=None if how == "tmpfs" else limit_file_size())
    assert_one_line_error(result, r"No space left on device|File too large")
    assert tree_digest(where, files_only=True) == before and not (where / "out").exists()


# ---------------------------------------------------------------- SIGKILL at the worst moment of a write

KILLS = [  # (command, args, the path whose rename is the kill point, the output that must not be half there)
    ("export", ("export", "{world.export}", "--out", "{ws}/out"), "out"),
    ("compile", ("compile", "{world.hw}", "--out", "{ws}/out"), "out"),
    ("compile --force", ("compile", "{world.hw}", "--out", "{ws}/user", "--force"), "ir.json"),
    ("zoo download", ("zoo", "download", "tiny-s4d"), ".zip"),
]


@pytest.mark.parametrize("row", KILLS, ids=lambda r: f"{r[0]}/SIGKILL while writing")
def test_sigkill_while_writing_leaves_no_partial_output(row, world, tmp_path):
    name, args, kill_at = row
    ws = tmp_path / "ws"
    (ws / "user").mkdir(parents=True)
    (ws / "user" / "notes.txt").write_text("my notes\n")
    env = {"S4D_ZOO_REGISTRY": str(world.zoo / "registry.json"), "S4D_CACHE": str(ws / "cache")}
    args = [a.format(world=world, ws=ws) for a in args]
    notes = (ws / "user" / "notes.txt").read_bytes()
    killed = run_child(args, env=env, kill_at=kill_at)
    assert killed.code == -9, killed.err[-2000:]
    assert (ws / "user" / "notes.txt").read_bytes() == notes
    assert not (ws / "out").exists()
    assert sorted(p.name for p in (ws / "user").iterdir() if not p.name.startswith(".")) == ["notes.txt"]
    assert not list(ws.glob("cache/archives/*.zip")) and not list(ws.glob("cache/models/*"))
    again = run_child(args, env=env)  # what the kill left behind does not stand in the way of a rerun
    assert again.code == 0, again.err[-2000:]
    assert (ws / "user" / "notes.txt").read_bytes() == notes


CHECKPOINT_CFG = {"epochs": 2, "batch_size": 10, "eval_batch_size": 10, "limit_train": 20,
                  "warmup_epochs": 0.5, "model_overrides": [["d_model", 4], ["d_state", 4], ["n_layers", 1]]}


def test_sigkill_while_writing_a_checkpoint(tmp_path):
    """Killed as orbax renames the second epoch's checkpoint into place: the first stays readable and --resume
    finishes the run."""
    from s4d_jax import checkpoint

    work = tmp_path / "work"
    args = ["--train", work, json.dumps(CHECKPOINT_CFG)]
    killed = run_child(args, kill_at="/4")  # step 4 = the end of epoch 2 (2 steps per epoch)
    assert killed.code == -9, killed.err[-2000:]
    manager = checkpoint.checkpoint_manager(work, read_only=True)
    assert manager.latest_step() == 2
    checkpoint.load_workdir(work, step=2)
    resumed = run_child(args)
    assert resumed.code == 0, resumed.err[-2000:]
    assert checkpoint.checkpoint_manager(work, read_only=True).latest_step() == 4
