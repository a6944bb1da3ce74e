"""Write and read exported model directories (docs/export_format.md).

`write_exported` is the only writer; the compiler reads the same directory with
`compiler.exported.load_exported`, which validates everything. The readers here serve the JAX side
(`s4d eval EXPORTED --mode fixed` and the float modes on an exported model) and check format version and
checksums, so a tampered file is never evaluated silently.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from s4d_jax.config import ModelConfig
from s4d_jax.files import staged_directory, write_npz
from s4d_jax.fixed import INPUT_SCALE, NEURONS, QuantizedModel, Widths
from s4d_jax.param_tree import check_architecture, flatten_params, unflatten_params

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TENSORS = "tensors.npz"
FLOAT_PREFIX = "float/"


def tensor_sha256(array: np.ndarray) -> str:
    """sha256 of a tensor's C-order little-endian bytes, as docs/export_format.md defines it."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


def sparsity(array: np.ndarray) -> dict:
    """The manifest's `nonzero` count and `density` (nonzero / size, 6 decimals) of a tensor."""
    nonzero = int(np.count_nonzero(array))
    return {"nonzero": nonzero, "density": round(nonzero / max(array.size, 1), 6)}


def _derived(q: QuantizedModel) -> dict:
    n = q.config.n_layers
    groups = {"encoder": q.weight_exp("encoder.weight", "input", "u.0"),
              "decoder": q.weight_exp("decoder.weight", f"u.{n}", "logits")}
    layers = []
    for layer in range(n):
        p = f"layers.{layer}"
        groups[f"{p}.expansion"] = -1
        if q.neuron == "folded":
            groups[f"{p}.reduction"] = q.reduction_exps(layer)[0]
        else:
            groups[f"{p}.c_re"], groups[f"{p}.c_im"] = q.reduction_exps(layer)
        groups[f"{p}.d"] = q.weight_exp(f"{p}.d", f"u.{layer}", f"y.{layer}")
        groups[f"mixers.{layer}"] = q.weight_exp(f"mixers.{layer}.weight", f"y.{layer}", f"u.{layer + 1}")
        shift_a, shift_b, shift_msg = q.s4d_shifts(layer)
        layers.append({"shift_a": shift_a, "shift_b": shift_b, "shift_msg": shift_msg})
    return {"weight_exp": groups, "s4d_shifts": layers}


def write_exported(out: str | os.PathLike, q: QuantizedModel, float_params, *, task: str | None,
                   meta: dict | None = None, quantization: dict | None = None) -> Path:
    """Write the exported directory atomically (s4d_jax/files.py: temporary sibling, then rename)."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists (choose another --out or remove it)")
    tensors = {name: np.asarray(value) for name, value in q.tensors.items()}
    tensors.update({FLOAT_PREFIX + k: np.asarray(v, np.float32) for k, v in flatten_params(float_params).items()})
    manifest = {
        "format": "s4d-jax exported model",
        "format_version": FORMAT_VERSION,
        "architecture": q.config.to_dict(),
        "task": task,
        "meta": meta or {},
        "input": {"dtype": "uint8", "min": 0, "max": (1 << q.widths.input) - 1,
                  "exponent": int(q.exponents["input"]), "float_scale": INPUT_SCALE},
        "fixed_point": {"widths": q.widths.to_dict(), "neuron": q.neuron,
                        "exponents": {k: int(v) for k, v in sorted(q.exponents.items())},
                        "derived": _derived(q)},
        "quantization": quantization or {},
        "tensors": {name: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": tensor_sha256(a),
                           **sparsity(a)} for name, a in tensors.items()},
    }
    text = json.dumps(manifest, indent=1, default=_json_default) + "\n"
    with staged_directory(out) as tmp:
        write_npz(tmp / TENSORS, tensors)
        (tmp / MANIFEST).write_text(text)
    return out


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the manifest")


def is_exported(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path / MANIFEST} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"{path / MANIFEST} must hold a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / MANIFEST}: field 'format_version' is {manifest.get('format_version')!r}, "
                         f"this version reads {FORMAT_VERSION}")
    listed = manifest.get("tensors", {})
    try:
        with np.load(path / TENSORS, allow_pickle=False) as npz:
            tensors = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path / TENSORS} cannot be read (empty, truncated or damaged): {reason}") from err
    for name, entry in listed.items():
        if name not in tensors:
            raise ValueError(f"{path / TENSORS}: tensor {name!r} listed in the manifest is missing")
        if str(tensors[name].dtype) != entry.get("dtype") or list(tensors[name].shape) != entry.get("shape"):
            raise ValueError(f"tensor {name!r}: dtype/shape in {TENSORS} differ from the manifest")
        if tensor_sha256(tensors[name]) != entry.get("sha256"):
            raise ValueError(f"tensor {name!r}: sha256 mismatch, the file was changed or corrupted")
    return manifest, tensors


def load_float(path: str | os.PathLike):
    """(config, float params, meta) of an exported directory, as `checkpoint.load_model` returns them."""
    path = Path(path)
    manifest, tensors = _read(path)
    config = ModelConfig.from_dict(manifest["architecture"])
    params = unflatten_params({k[len(FLOAT_PREFIX):]: v for k, v in tensors.items() if k.startswith(FLOAT_PREFIX)})
    check_architecture(config, params, str(path))
    meta = {**manifest.get("meta", {}), "task": manifest.get("task")}
    return config, params, meta


def load_quantized(path: str | os.PathLike) -> QuantizedModel:
    """The integer network of an exported directory (checksums verified)."""
    path = Path(path)
    manifest, tensors = _read(path)
    config = ModelConfig.from_dict(manifest["architecture"])
    try:
        spec = manifest["fixed_point"]
        exponents = {k: int(v) for k, v in spec["exponents"].items()}
        widths = Widths(**spec["widths"])
        neuron = spec.get("neuron", "split")  # absent before the folded neuron existed
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{path / MANIFEST}: field 'fixed_point' is malformed ({type(err).__name__}: {err})") \
            from err
    if neuron not in NEURONS:
        raise ValueError(f"{path / MANIFEST}: field fixed_point.'neuron' must be one of {NEURONS}, got {neuron!r}")
    ints = {k: v for k, v in tensors.items() if not k.startswith(FLOAT_PREFIX)}
    return QuantizedModel(config, ints, exponents, widths, neuron)
