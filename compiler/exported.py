"""Load and validate an exported model directory (docs/export_format.md): the compiler's only input.

Everything is checked before anything is used: format version, architecture, the fixed-point spec values,
every tensor's presence, dtype, shape and sha256, and the bit widths and int32 bounds of
`fixed_point.check_network`. A bad directory raises ValueError (or FileNotFoundError) naming the field.
No JAX, no pickle.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from compiler import fixed_point

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TENSORS = "tensors.npz"
FLOAT_PREFIX = "float/"
ARCHITECTURE_FIELDS = ("d_input", "n_classes", "d_model", "d_state", "n_layers", "pooling")


def tensor_sha256(array: np.ndarray) -> str:
    """sha256 of a tensor's C-order little-endian bytes (the manifest's checksum)."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


def expected_shapes(arch: Mapping) -> dict[str, tuple[int, ...]]:
    """Shape of every integer tensor for an architecture."""
    h, p, c = arch["d_model"], arch["d_state"] // 2, arch["n_classes"]
    shapes = {"encoder.weight": (h, arch["d_input"]), "encoder.bias": (h,),
              "decoder.weight": (c, h), "decoder.bias": (c,)}
    for layer in range(arch["n_layers"]):
        for leaf in ("a_re", "a_im", "b_re", "b_im", "c_re", "c_im"):
            shapes[f"layers.{layer}.{leaf}"] = (h, p)
        shapes[f"layers.{layer}.d"] = (h,)
        shapes[f"mixers.{layer}.weight"] = (h, h)
        shapes[f"mixers.{layer}.bias"] = (h,)
    return shapes


@dataclass(frozen=True)
class ExportedModel:
    """A validated exported model: its manifest values, integer network and float tensors."""

    path: Path
    format_version: int
    architecture: Mapping
    task: str | None
    input: Mapping
    quantization: Mapping
    network: fixed_point.FixedNetwork
    float_tensors: Mapping[str, np.ndarray]
    manifest: Mapping

    @property
    def widths(self) -> fixed_point.Widths:
        return self.network.widths

    @property
    def exponents(self) -> Mapping[str, int]:
        return self.network.exponents

    @property
    def tensors(self) -> Mapping[str, np.ndarray]:
        return self.network.tensors


def _field(mapping: Mapping, key: str, where: str, kind=None):
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ValueError(f"{MANIFEST}: field {where}{key!r} is missing")
    value = mapping[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{MANIFEST}: field {where}{key!r} must be {getattr(kind, '__name__', kind)}, "
                         f"got {value!r}")
    return value


def _check_architecture(arch) -> dict:
    if not isinstance(arch, Mapping):
        raise ValueError(f"{MANIFEST}: field 'architecture' must be an object")
    for key in ARCHITECTURE_FIELDS[:-1]:
        value = _field(arch, key, "architecture.", int)
        if value < 1:
            raise ValueError(f"{MANIFEST}: field architecture.{key!r} must be positive, got {value}")
    if arch["d_state"] % 2:
        raise ValueError(f"{MANIFEST}: field architecture.'d_state' must be even, got {arch['d_state']}")
    pooling = _field(arch, "pooling", "architecture.", str)
    if pooling not in fixed_point.POOLINGS:
        raise ValueError(f"{MANIFEST}: field architecture.'pooling' must be one of {fixed_point.POOLINGS}, "
                         f"got {pooling!r}")
    return dict(arch)


def _load_tensors(path: Path, entries: Mapping) -> dict[str, np.ndarray]:
    file = path / TENSORS
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing")
    try:
        with np.load(file, allow_pickle=False) as npz:
            stored = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{file} cannot be read as a pickle-free .npz: {err}") from err
    for name in sorted(set(stored) - set(entries)):
        raise ValueError(f"{TENSORS}: tensor {name!r} is not listed in {MANIFEST} 'tensors'")
    tensors = {}
    for name, entry in entries.items():
        where = f"tensors.{name}."
        if name not in stored:
            raise ValueError(f"{TENSORS}: tensor {name!r} listed in {MANIFEST} is missing")
        array = stored[name]
        dtype = _field(entry, "dtype", where, str)
        shape = tuple(_field(entry, "shape", where, list))
        digest = _field(entry, "sha256", where, str)
        if str(array.dtype) != dtype:
            raise ValueError(f"tensor {name!r}: dtype {array.dtype} in {TENSORS}, manifest says {dtype}")
        if array.shape != shape:
            raise ValueError(f"tensor {name!r}: shape {array.shape} in {TENSORS}, manifest says {list(shape)}")
        if tensor_sha256(array) != digest:
            raise ValueError(f"tensor {name!r}: sha256 mismatch (file {tensor_sha256(array)[:12]}…, "
                             f"manifest {digest[:12]}…): the file was changed or corrupted")
        _check_sparsity(name, entry, array)
        tensors[name] = array
    return tensors


def _check_sparsity(name: str, entry: Mapping, array: np.ndarray) -> None:
    """The optional `nonzero` and `density` fields must describe the stored tensor (its pruning mask)."""
    nonzero = int(np.count_nonzero(array))
    where = f"tensors.{name!r}"
    if "nonzero" in entry:
        value = entry["nonzero"]
        if not isinstance(value, int) or isinstance(value, bool) or value != nonzero:
            raise ValueError(f"{MANIFEST}: field {where}.nonzero is {value!r}, the tensor has {nonzero} nonzero "
                             f"of {array.size}")
    if "density" in entry:
        value, actual = entry["density"], nonzero / max(array.size, 1)
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1
                or value != round(actual, 6)):
            raise ValueError(f"{MANIFEST}: field {where}.density is {value!r}, the tensor's is {round(actual, 6)}")


def load_exported(path) -> ExportedModel:
    """Read and validate the exported model directory at `path`."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no exported model directory at {path}")
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise FileNotFoundError(f"{manifest_file} is missing")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{manifest_file} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"{MANIFEST} must hold a JSON object")
    version = _field(manifest, "format_version", "", int)
    if version != FORMAT_VERSION:
        raise ValueError(f"{MANIFEST}: field 'format_version' is {version}; this loader reads {FORMAT_VERSION}")
    arch = _check_architecture(_field(manifest, "architecture", ""))
    task = manifest.get("task")
    input_spec = _field(manifest, "input", "", dict)
    spec = _field(manifest, "fixed_point", "", dict)
    try:
        widths = fixed_point.Widths(**_field(spec, "widths", "fixed_point.", dict))
    except TypeError as err:
        raise ValueError(f"{MANIFEST}: field fixed_point.'widths' is malformed: {err}") from err
    except ValueError as err:
        raise ValueError(f"{MANIFEST}: field fixed_point.{err}") from err
    exponents = _field(spec, "exponents", "fixed_point.", dict)
    neuron = spec.get("neuron", "split")  # absent in exports written before the folded neuron existed
    if neuron not in fixed_point.NEURONS:
        raise ValueError(f"{MANIFEST}: field fixed_point.'neuron' must be one of {fixed_point.NEURONS}, "
                         f"got {neuron!r}")
    input_exp = _field(input_spec, "exponent", "input.", int)
    if exponents.get("input") != input_exp:
        raise ValueError(f"{MANIFEST}: field input.'exponent' ({input_exp}) differs from "
                         f"fixed_point.exponents.'input' ({exponents.get('input')})")
    entries = _field(manifest, "tensors", "", dict)
    shapes = expected_shapes(arch)
    for name, shape in shapes.items():
        if name not in entries:
            raise ValueError(f"{MANIFEST}: field tensors.{name!r} is missing")
        if tuple(entries[name].get("shape", ())) != shape:
            raise ValueError(f"{MANIFEST}: field tensors.{name!r}.shape is {entries[name].get('shape')}, the "
                             f"architecture needs {list(shape)}")
    for name in entries:
        if name not in shapes and not name.startswith(FLOAT_PREFIX):
            raise ValueError(f"{MANIFEST}: field tensors.{name!r} is not a tensor of this architecture")
    tensors = _load_tensors(path, entries)
    try:
        network = fixed_point.FixedNetwork(arch["n_layers"], arch["pooling"],
                                           {k: tensors[k] for k in shapes}, dict(exponents), widths, neuron)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    floats = {k[len(FLOAT_PREFIX):]: v for k, v in tensors.items() if k.startswith(FLOAT_PREFIX)}
    return ExportedModel(path, version, arch, task, dict(input_spec), dict(manifest.get("quantization", {})),
                         network, floats, manifest)
