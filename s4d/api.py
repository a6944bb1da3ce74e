"""The Python API: load a model by zoo name or path, classify, stream token by token, compile for Loihi 2.

Inputs are integer pixel sequences, as the tasks feed them (sMNIST [B, 784, 1], psMNIST the same pixels in
the model's fixed permutation, sCIFAR [B, 1024, 3]), any integer dtype with values in [0, 255]. The
float model sees pixel / 255, the fixed-point network the pixel itself, so one input serves both
precisions and no float input can be misread as already scaled or not.

>>> import numpy as np, s4d
>>> m = s4d.load("smnist-s4d-67k")
>>> x = np.zeros((1, 784, 1), np.uint8)
>>> a = m.classify(x)                                   # logits [1, 10]
>>> s = m.stream()
>>> outs = [s.push(x[:, i]) for i in range(784)]        # logits after every token
>>> bool(np.allclose(outs[-1], a, atol=1e-4))
True

Heavy libraries (JAX, numba, Lava) are imported when a model needs them, so `import s4d` stays light.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from s4d.compiling import CompileReport, compile_model
from s4d.resolve import find_export

PRECISIONS = ("float", "fixed")
PIXEL_MAX = 255


def load(name_or_path: str | Path, precision: str = "float") -> "Model":
    """A model from a zoo name or a path (params directory, training workdir, exported model directory).

    precision="float" runs the float network; precision="fixed" runs the integer network Loihi 2 executes,
    which needs quantized integers: a zoo name or an exported model directory (see `s4d quantize`,
    `s4d export`).

    >>> m = s4d.load("smnist-s4d-67k", precision="fixed")
    >>> m.config.d_model, m.precision
    (64, 'fixed')
    """
    import zoo

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    root = Path(zoo.resolve(name_or_path))  # a path as is; a zoo name fetched, verified and extracted
    card = root / "card.md"
    return Model(str(name_or_path), precision, root, card.read_text() if card.is_file() else None)


class Model:
    """A loaded classifier. `classify` runs whole sequences, `stream` one token at a time, `compile` maps it
    onto Loihi 2; `card` is the zoo model card (None for a plain path without card.md)."""

    def __init__(self, source: str, precision: str, root: Path, card: str | None):
        self.source, self.precision, self.card = source, precision, card
        if precision == "float":
            from s4d_jax.checkpoint import load_model

            self.config, self._params, self.meta = load_model(root / "params" if (root / "params").is_dir()
                                                              else root)
            self._logits = None
        else:
            from compiler.exported import load_exported
            from s4d_jax.export import load_quantized

            export = _exported_dir(root, source)
            self._quantized = load_quantized(export)  # the JAX half's view of the integers
            exported = load_exported(export)  # the compiler half's view of the same files
            self._network = exported.network
            self.config, self.meta = self._quantized.config, {"task": exported.task, **exported.manifest.get("meta", {})}

    def __repr__(self) -> str:
        c = self.config
        return (f"Model({self.source!r}, precision={self.precision!r}, d_model={c.d_model}, d_state={c.d_state}, "
                f"n_layers={c.n_layers}, classes={c.n_classes})")

    def classify(self, x) -> np.ndarray:
        """Logits after the last token for pixel sequences x [B, L, C]: float32 for precision "float";
        for "fixed" the readout integers z (int64) the chip's readout neurons hold, whose argmax is the class.

        >>> m.classify(np.zeros((2, 784, 1), np.uint8)).shape
        (2, 10)
        """
        x = check_pixels(x, self.config.d_input, ndim=3)
        if self.precision == "fixed":
            from s4d_jax import fixed

            return fixed.run(self._quantized, x)
        if self._logits is None:
            from s4d_jax.evaluate import LOGITS_FNS

            self._logits = LOGITS_FNS["conv"](self.config, self._params)
        return np.asarray(self._logits(x.astype(np.float32) / PIXEL_MAX))

    def stream(self) -> "Streamer":
        """A streamer: `push(x_t)` with one token of pixels [B, C] returns the logits after the tokens so far
        (what `classify` returns for that prefix), `reset()` starts new sequences.

        >>> s = m.stream()
        >>> s.push(np.zeros((1, 1), np.uint8)).shape
        (1, 10)
        """
        if self.precision == "fixed":
            from compiler.stream import FixedStreamer

            return Streamer(lambda batch: FixedStreamer(self._network, batch), self.config.d_input, 1)
        from s4d_jax.streaming import StreamingClassifier

        return Streamer(lambda batch: StreamingClassifier(self.config, self._params, batch), self.config.d_input,
                        PIXEL_MAX)

    def compile(self, mode: str = "pipelined", **options) -> CompileReport:
        """Map the model onto Loihi 2 (`s4d compile`): the report has the fields of `s4d compile --json`.
        Options: those of `s4d compile` (s4d.compiling.compile_model): objective ("latency" | "cores"), cores,
        max_chips, activity, sweep, plot (.png), simulate (N sequences run in Lava and checked bit for bit),
        inputs (.npz), data_dir, out.

        >>> m.compile(mode="fall-through").neurocores > 0
        True
        """
        return compile_model(self.source, mode=mode, **options)


class Streamer:
    """Token-by-token inference with state carried between `push` calls; the batch size is taken from the
    first token (a different one needs `reset()` first). `tokens` counts the tokens pushed since the start
    or the last reset."""

    def __init__(self, make, d_input: int, divisor: int):
        self._make, self._d_input, self._divisor = make, d_input, divisor
        self._runtime = None
        self.tokens = 0

    def push(self, x_t) -> np.ndarray:
        """One token of pixels x_t [B, C] → logits after it, [B, classes] (a fresh array)."""
        x_t = check_pixels(x_t, self._d_input, ndim=2)
        if self._runtime is None:
            self._runtime = self._make(len(x_t))
        elif len(x_t) != self._runtime.batch:
            raise ValueError(f"token has batch {len(x_t)}, but this stream runs {self._runtime.batch} sequences; "
                             f"call reset() to start new ones")
        out = self._runtime.push(x_t if self._divisor == 1 else x_t.astype(np.float32) / self._divisor)
        self.tokens += 1
        return out.copy()

    def reset(self) -> None:
        """Forget all tokens so far (the next push may bring a new batch size)."""
        self._runtime = None
        self.tokens = 0


def check_pixels(x, d_input: int, ndim: int) -> np.ndarray:
    """x as an integer array of `ndim` dimensions ([B, L, C] or [B, C]) with C = d_input and values in
    [0, 255]; a ValueError names what is wrong."""
    x = np.asarray(x)
    what = "[batch, length, channels]" if ndim == 3 else "[batch, channels] (one token)"
    if x.ndim != ndim:
        raise ValueError(f"inputs must be {what}, got shape {x.shape}")
    if x.shape[-1] != d_input:
        raise ValueError(f"inputs have {x.shape[-1]} channels, the model expects {d_input} (shape {x.shape})")
    if min(x.shape) == 0:
        raise ValueError(f"inputs are empty (shape {x.shape})")
    if x.dtype.kind not in "iu":
        raise ValueError(f"inputs must be integer pixels in [0, {PIXEL_MAX}], got dtype {x.dtype} "
                         f"(pass the pixels as the task feeds them, not scaled to [0, 1])")
    if x.dtype.kind == "u" and (1 << 8 * x.dtype.itemsize) - 1 <= PIXEL_MAX:  # every value of the type is a pixel
        return x
    low, high = int(x.min()), int(x.max())
    if low < 0 or high > PIXEL_MAX:
        raise ValueError(f"pixels must be in [0, {PIXEL_MAX}], got values in [{low}, {high}]")
    return x


def _exported_dir(root: Path, source: str) -> Path:
    found = find_export(root)
    if found is not None:
        return found
    raise ValueError(f"{source}: precision='fixed' needs quantized integers, an exported model directory or a "
                     f"zoo name; this is a float model (run `s4d quantize` or `s4d export` on it first)")
