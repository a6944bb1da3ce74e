"""From float parameters to the integer network of docs/fixed_point.md: PTQ and QAFT.

- `quantize(config, params, act_exponents)` is the one quantization function (NumPy float64, deterministic).
- `calibrate` runs the float network in recurrent form on calibration sequences and records the largest
  magnitude of every neuron group; `activation_exponents` turns those into exponents; `ptq` chains the three.
- `qaft` fine-tunes the float parameters in recurrent form (`lax.scan`) through a float mirror of the integer
  network with fake quantization and straight-through estimators; the fixed-mode accuracy it reports is
  measured by quantizing the current parameters with `quantize` and running `fixed.run`, so quantizing the
  returned parameters gives exactly that accuracy. Weights that are exactly zero (pruned) stay zero, and
  `quantize` maps them to integer 0, so a pruned model keeps its sparsity through QAFT and export.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from s4d_jax.checkpoint import check_interval, progress_manager
from s4d_jax.config import ModelConfig
from s4d_jax.fixed import INPUT_SCALE, NEURONS, QuantizedModel, Widths, pixels

STATE_TO_MESSAGE_SHIFT = 8  # an S4D neuron sends the top `message` bits of its 24-bit state


def _coefficients(layer_params, xp):
    """(a, b̄) of a layer, complex [H, P], with numpy (float64) or jax.numpy (float32) as `xp`."""
    a_cont = -xp.exp(layer_params["log_neg_re_a"]) + 1j * layer_params["im_a"]
    a = xp.exp(xp.exp(layer_params["log_dt"])[:, None] * a_cont)
    b = layer_params["b"][..., 0] + 1j * layer_params["b"][..., 1]
    return a, (a - 1.0) / a_cont * b


def float_tensors(config: ModelConfig, params, xp=np) -> dict:
    """The real numbers the integer tensors approximate, named as in the export format ([out, in] matrices)."""
    f64 = (lambda v: np.asarray(v, np.float64)) if xp is np else (lambda v: v)
    out = {"encoder.weight": f64(params["encoder"]["kernel"]).T * INPUT_SCALE,
           "encoder.bias": f64(params["encoder"]["bias"]),
           "decoder.weight": f64(params["decoder"]["kernel"]).T, "decoder.bias": f64(params["decoder"]["bias"])}
    for layer in range(config.n_layers):
        lp = {k: f64(v) for k, v in params[f"layers_{layer}"].items()}
        a, b_bar = _coefficients(lp, xp)
        p = f"layers.{layer}"
        out.update({f"{p}.a_re": a.real, f"{p}.a_im": a.imag, f"{p}.b_re": b_bar.real, f"{p}.b_im": b_bar.imag,
                    f"{p}.c_re": 2 * lp["c"][..., 0], f"{p}.c_im": -2 * lp["c"][..., 1], f"{p}.d": lp["d"],
                    f"mixers.{layer}.weight": f64(params[f"mixers_{layer}"]["kernel"]).T,
                    f"mixers.{layer}.bias": f64(params[f"mixers_{layer}"]["bias"])})
    return out


def signed_max(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def exponent_for(max_abs: float, limit: int) -> int:
    """Smallest e with max_abs / 2^e ≤ limit (0 for an all-zero tensor)."""
    if not max_abs > 0:
        return 0
    e = math.ceil(math.log2(max_abs / limit))
    return e + 1 if max_abs / 2.0 ** e > limit else e


def quantize_tensor(values: np.ndarray, exponent: int, low: int, high: int) -> np.ndarray:
    return np.clip(np.rint(np.asarray(values, np.float64) / 2.0 ** exponent), low, high)


# Largest magnitude (float units) of each activation group, as `calibrate` returns it.
Stats = dict


def _pairs_with(leaf: str, neuron: str) -> bool:
    """Whether a per-mode tensor is a 16-bit neuron coefficient sharing one exponent with its re/im partner
    (b̄ always; c in the folded neuron), rather than an 8-bit synaptic weight."""
    return leaf in ("b_re", "b_im") or (neuron == "folded" and leaf in ("c_re", "c_im"))


def activation_limits(widths: Widths, name: str) -> int:
    kind = name.split(".")[0]
    if kind in ("u", "x_msg"):
        return signed_max(widths.message)
    if kind == "y":
        return (1 << widths.message) - 1
    return signed_max(widths.state)  # x, logits


def activation_exponents(stats: Stats, widths: Widths = Widths(), headroom_bits: int = 1) -> dict:
    """Exponents of the activation groups from calibration maxima, `headroom_bits` above the largest seen."""
    out = {"input": 0}
    for name, value in stats.items():
        out[name] = exponent_for(float(value), activation_limits(widths, name)) + headroom_bits
    return out


def quantize(config: ModelConfig, params, act_exponents: dict, widths: Widths = Widths(),
             neuron: str = "split") -> QuantizedModel:
    """The integer network for float `params` and activation exponents (from `activation_exponents`).

    Weight exponents come from each tensor's largest magnitude. Activation exponents are raised where needed
    so that every Lava weight_exp is ≤ 0 and every S4D shift is ≥ 0 (docs/fixed_point.md §3, §4). The split
    neuron sends the top bits of its state (x_msg = x + 8); the folded one sends c·x at the calibrated x_msg.
    """
    if neuron not in NEURONS:
        raise ValueError(f"neuron must be one of {NEURONS}, got {neuron!r}")
    f = float_tensors(config, params, np)
    wmax, cmax = signed_max(widths.weight), signed_max(widths.coef)
    e, t = {}, {}

    def weight(name):
        e[name] = exponent_for(float(np.abs(f[name]).max(initial=0.0)), wmax)
        t[name] = quantize_tensor(f[name], e[name], -wmax - 1, wmax).astype(np.int8)

    def act(name, *floors):
        e[name] = max([int(act_exponents[name])] + [int(v) for v in floors])

    def coefficient(stem):  # a 16-bit neuron coefficient pair (re, im) with one exponent
        big = max(float(np.abs(f[f"{stem}_re"]).max()), float(np.abs(f[f"{stem}_im"]).max()))
        e[f"{stem}_re"] = e[f"{stem}_im"] = exponent_for(big, cmax)
        for part in ("re", "im"):
            t[f"{stem}_{part}"] = quantize_tensor(f[f"{stem}_{part}"], e[f"{stem}_re"], -cmax, cmax).astype(np.int32)

    e["input"] = int(act_exponents.get("input", 0))
    weight("encoder.weight")
    act("u.0", e["encoder.weight"] + e["input"] - 1)
    for layer in range(config.n_layers):
        p = f"layers.{layer}"
        e[f"{p}.a_re"] = e[f"{p}.a_im"] = -(widths.coef - 1)
        for part in ("a_re", "a_im"):
            t[f"{p}.{part}"] = quantize_tensor(f[f"{p}.{part}"], -(widths.coef - 1), -cmax, cmax).astype(np.int32)
        coefficient(f"{p}.b")
        act(f"x.{layer}", e[f"{p}.b_re"] + e[f"u.{layer}"])
        weight(f"{p}.d")
        if neuron == "folded":  # c in the neuron; the ones group has mantissa 1 at exponent 0
            coefficient(f"{p}.c")
            act(f"x_msg.{layer}", e[f"{p}.c_re"] + e[f"x.{layer}"])
            act(f"y.{layer}", e[f"x_msg.{layer}"] - 1, e[f"{p}.d"] + e[f"u.{layer}"] - 1)
        else:
            e[f"x_msg.{layer}"] = e[f"x.{layer}"] + STATE_TO_MESSAGE_SHIFT
            weight(f"{p}.c_re")
            weight(f"{p}.c_im")
            act(f"y.{layer}", e[f"{p}.c_re"] + e[f"x_msg.{layer}"] - 1, e[f"{p}.c_im"] + e[f"x_msg.{layer}"] - 1,
                e[f"{p}.d"] + e[f"u.{layer}"] - 1)
        weight(f"mixers.{layer}.weight")
        act(f"u.{layer + 1}", e[f"mixers.{layer}.weight"] + e[f"y.{layer}"] - 1)
    weight("decoder.weight")
    act("logits", e["decoder.weight"] + e[f"u.{config.n_layers}"] - 1)
    smax = signed_max(widths.state)
    for bias, target in [("encoder.bias", "u.0"), ("decoder.bias", "logits")] + [
            (f"mixers.{layer}.bias", f"u.{layer + 1}") for layer in range(config.n_layers)]:
        e[bias] = e[target]
        t[bias] = quantize_tensor(f[bias], e[target], -smax, smax).astype(np.int32)
    return QuantizedModel(config, t, e, widths, neuron)


# --- the float mirror of the integer network (calibration and QAFT) ------------------------------------------

def _ste(v, fn):
    """fn(v) forward, identity gradient (straight-through estimator)."""
    import jax

    return v + jax.lax.stop_gradient(fn(v) - v)


def _fake(v, exponent, low, high, rounding):
    """Fake quantization on the grid 2^exponent with a straight-through rounding and a clipping range."""
    import jax.numpy as jnp

    scale = 2.0 ** exponent
    return jnp.clip(_ste(v / scale, rounding), low, high) * scale


def mirror_tensors(config: ModelConfig, params, exps: dict | None, widths: Widths, neuron: str = "split") -> dict:
    """float_tensors in JAX, fake-quantized like `quantize` when `exps` (activation exponents) is given."""
    import jax
    import jax.numpy as jnp

    f = float_tensors(config, params, jnp)
    if exps is None:
        return f
    wmax, cmax = signed_max(widths.weight), signed_max(widths.coef)
    out = dict(f)
    for name, value in f.items():
        leaf = name.rsplit(".", 1)[1]
        if leaf == "bias":
            continue
        if leaf in ("a_re", "a_im"):
            out[name] = _fake(value, -(widths.coef - 1), -cmax, cmax, jnp.round)
        elif _pairs_with(leaf, neuron):
            partner = f[name[:-2] + ("im" if leaf.endswith("re") else "re")]
            big = jax.lax.stop_gradient(jnp.maximum(jnp.abs(value).max(), jnp.abs(partner).max()))
            out[name] = _fake(value, jnp.ceil(jnp.log2(big / cmax)), -cmax, cmax, jnp.round)
        else:
            big = jax.lax.stop_gradient(jnp.abs(value).max())
            out[name] = _fake(value, jnp.ceil(jnp.log2(big / wmax)), -wmax - 1, wmax, jnp.round)
    return out


def mirror_forward(config: ModelConfig, tensors: dict, x, exps: dict | None, widths: Widths = Widths(),
                   neuron: str = "split", remat: bool = False):
    """The network token by token in float (`lax.scan`), optionally fake-quantizing every message like the
    integer network of `neuron`. Returns (pooled logits [B, classes], running maxima of every activation group;
    'x_msg.l' is the largest per-mode term 2·Re(c·x), the folded neuron's message). `remat` trades a second
    forward pass for memory when differentiating (`checkpointed_scan`)."""
    import jax
    import jax.numpy as jnp

    msg, umsg, smax = signed_max(widths.message), (1 << widths.message) - 1, signed_max(widths.state)
    mean = config.pooling == "mean"

    def q(v, name, low, high):
        return v if exps is None else _fake(v, exps[name], low, high, jnp.floor)

    def dense(s, name):
        return s @ tensors[name].T

    def step(carry, x_t):
        states, z, maxima = carry
        found = {}
        u = q(dense(x_t * 255.0, "encoder.weight") + tensors["encoder.bias"], "u.0", -msg, msg)
        found["u.0"] = u
        new_states = []
        for layer in range(config.n_layers):
            p = f"layers.{layer}"
            x_re, x_im = states[layer]
            a_re, a_im = tensors[f"{p}.a_re"], tensors[f"{p}.a_im"]
            x_re, x_im = (a_re * x_re - a_im * x_im + tensors[f"{p}.b_re"] * u[..., None],
                          a_re * x_im + a_im * x_re + tensors[f"{p}.b_im"] * u[..., None])
            x_re, x_im = q(x_re, f"x.{layer}", -smax, smax), q(x_im, f"x.{layer}", -smax, smax)
            new_states.append((x_re, x_im))
            found[f"x.{layer}"] = jnp.maximum(jnp.abs(x_re), jnp.abs(x_im))
            c_re, c_im = tensors[f"{p}.c_re"], tensors[f"{p}.c_im"]
            terms = c_re * x_re + c_im * x_im  # 2·Re(c·x) per mode
            found[f"x_msg.{layer}"] = jnp.abs(terms)
            if neuron == "folded":
                terms = q(terms, f"x_msg.{layer}", -msg, msg)
            else:
                terms = c_re * q(x_re, f"x_msg.{layer}", -msg, msg) + c_im * q(x_im, f"x_msg.{layer}", -msg, msg)
            y = jnp.sum(terms, -1) + u * tensors[f"{p}.d"]
            y = q(jax.nn.relu(y), f"y.{layer}", 0, umsg)
            found[f"y.{layer}"] = y
            u = q(dense(y, f"mixers.{layer}.weight") + tensors[f"mixers.{layer}.bias"], f"u.{layer + 1}", -msg, msg)
            found[f"u.{layer + 1}"] = u
        term = dense(u, "decoder.weight") + tensors["decoder.bias"]
        z = q(z + term if mean else term, "logits", -smax, smax)
        found["logits"] = z
        maxima = {k: jnp.maximum(maxima[k], jax.lax.stop_gradient(jnp.abs(v)).max()) for k, v in found.items()}
        return (tuple(new_states), z, maxima), None

    batch, length = x.shape[0], x.shape[1]
    h, p = tensors["layers.0.a_re"].shape
    zeros = jnp.zeros((batch, h, p), jnp.float32)
    names = ["u.0", "logits"] + [f"{k}.{layer}" for layer in range(config.n_layers) for k in ("x", "x_msg", "y")]
    names += [f"u.{layer + 1}" for layer in range(config.n_layers)]
    maxima0 = {k: jnp.zeros((), jnp.float32) for k in names}
    carry0 = (tuple((zeros, zeros) for _ in range(config.n_layers)),
              jnp.zeros((batch, config.n_classes), jnp.float32), maxima0)
    scan = checkpointed_scan if remat else jax.lax.scan
    (_, z, maxima), _ = scan(step, carry0, jnp.swapaxes(x, 0, 1))
    return (z / length if mean else z), maxima


def checkpointed_scan(step, carry, xs):
    """`lax.scan(step, carry, xs)` whose gradient stores about 2·√L states instead of every step's intermediates.

    Differentiating a scan keeps the intermediates of all L steps for the backward pass: for s4d-265k at batch
    16 and L = 1024 that is ≈ 24 MB a step, 26 GB in all. Here the L steps run as ⌈L/T⌉ chunks of T ≈ √L
    steps, each under `jax.checkpoint`: the backward pass keeps only the carry at every chunk boundary and
    recomputes one chunk's steps at a time, so it holds L/T carries plus T steps' intermediates (under 1 GB
    there) for one extra forward pass."""
    import jax

    length = xs.shape[0]
    chunk = max(1, math.isqrt(length))
    full = length - length % chunk
    run = jax.checkpoint(lambda c, block: jax.lax.scan(step, c, block))
    carry, _ = jax.lax.scan(run, carry, xs[:full].reshape(full // chunk, chunk, *xs.shape[1:]))
    if full < length:
        carry, _ = run(carry, xs[full:])
    return carry, None


def calibrate(config: ModelConfig, params, x: np.ndarray, batch_size: int = 50) -> Stats:
    """Largest magnitude of every activation group of the float recurrent network over sequences x [N, L, C]
    (floats in [0, 1]); 'x_msg' is the folded neuron's message (the split neuron derives its own from x)."""
    import jax
    import jax.numpy as jnp

    forward = jax.jit(lambda prm, xb: mirror_forward(config, float_tensors(config, prm, jnp), xb, None)[1])
    stats: dict = {}
    for begin in range(0, len(x), batch_size):
        found = forward(params, np.asarray(x[begin:begin + batch_size], np.float32))
        for k, v in found.items():
            stats[k] = max(stats.get(k, 0.0), float(v))
    return stats


def ptq(config: ModelConfig, params, calib_x: np.ndarray, widths: Widths = Widths(),
        headroom_bits: int = 1, neuron: str = "split") -> tuple[QuantizedModel, dict]:
    """Post-training quantization: (quantized model, activation exponents) from calibration sequences."""
    exps = activation_exponents(calibrate(config, params, calib_x), widths, headroom_bits)
    q = quantize(config, params, exps, widths, neuron)
    return q, activations_of(q)


def activations_of(q: QuantizedModel) -> dict:
    """The activation exponents a quantized model ended up with (what QAFT keeps fixed)."""
    return {k: v for k, v in q.exponents.items() if not k.startswith(("encoder.", "decoder.", "layers.", "mixers."))}


def fixed_accuracy(q: QuantizedModel, x: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Accuracy of the integer network (JAX fixed mode) on float inputs x in [0, 1]."""
    from s4d_jax import fixed

    correct = 0
    for begin in range(0, len(labels), batch_size):
        z = fixed.run(q, pixels(x[begin:begin + batch_size]))
        correct += int((z.argmax(-1) == labels[begin:begin + batch_size]).sum())
    return correct / max(len(labels), 1)


@dataclass(frozen=True)
class QaftConfig:
    """Fine-tuning settings: a short run on a subset, in recurrent form."""

    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:  # before the test-set evaluations that come first, not after them
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"QAFT {name.replace('_', ' ')} must be positive, got {getattr(self, name)}")
        if not self.learning_rate >= 0:
            raise ValueError(f"QAFT learning rate must be ≥ 0, got {self.learning_rate}")


def qaft(config: ModelConfig, params, exps: dict, train: tuple[np.ndarray, np.ndarray],
         evaluation: tuple[np.ndarray, np.ndarray], settings: QaftConfig = QaftConfig(),
         widths: Widths = Widths(), log: Callable[[dict], None] | None = None,
         progress: bool = False, workdir=None, neuron: str = "split",
         checkpoint_every_min: float = 10.0) -> tuple[object, list[dict]]:
    """Quantization-aware fine-tuning. Returns (fine-tuned float params, history); each history entry holds
    the fixed-mode accuracy of `quantize(config, params_at_that_point, exps)` on `evaluation`.

    With `workdir`, params, optimizer state and history are saved (orbax) after every epoch, and inside an
    epoch every `checkpoint_every_min` minutes of wall time with the epoch's losses so far (a QAFT step of
    s4d-265k at L = 1024 takes most of a minute here, so an epoch can outlast a working session). A run given
    a workdir continues from the newer of the two: the shuffling generator is advanced past the finished
    epochs and the batches already done are skipped, so a run killed and resumed ends bit-identical to one
    never interrupted. The interval changes no result, only how much work a kill can lose."""
    check_interval(checkpoint_every_min)
    import jax
    import jax.numpy as jnp
    import optax
    import orbax.checkpoint as ocp
    from tqdm import tqdm

    def loss_fn(prm, xb, yb):
        tensors = mirror_tensors(config, prm, exps, widths, neuron)
        logits, _ = mirror_forward(config, tensors, xb, exps, widths, neuron, remat=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    from s4d_jax.prune import keep_zeros

    optimizer = optax.chain(optax.adam(settings.learning_rate), keep_zeros())  # a pruned weight stays pruned
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(prm, state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(prm, xb, yb)
        updates, state = optimizer.update(grads, state, prm)
        return optax.apply_updates(prm, updates), state, loss

    x_train, y_train = train
    history = []
    rng = np.random.default_rng(settings.seed)
    starts = range(0, len(y_train) - settings.batch_size + 1, settings.batch_size)
    manager = _qaft_manager(workdir, settings) if workdir is not None else None
    partial = progress_manager(workdir) if workdir is not None else None

    def save(mgr, step, prm, opt, name, record):  # params and optimizer state, plus one JSON record
        mgr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave({"params": jax.device_get(prm), "opt_state": jax.device_get(opt)}),
            **{name: ocp.args.JsonSave(record)}))
        mgr.wait_until_finished()

    def restore(mgr, step, state, name):
        restored = mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(state), **{name: ocp.args.JsonRestore()}))
        return restored["state"], restored[name]

    done, skip, losses = 0, 0, []
    state = {"params": params, "opt_state": opt_state}
    if manager is not None and manager.latest_step() is not None:
        done = manager.latest_step()
        state, history = restore(manager, done, state, "history")
    if partial is not None and (partial.latest_step() or 0) > done * len(starts):
        state, record = restore(partial, partial.latest_step(), state, "progress")
        losses = list(record["losses"])
        skip = len(losses)  # batches of epoch `done + 1` already done
    params, opt_state, history = state["params"], state["opt_state"], list(history)
    for _ in range(done):
        rng.permutation(len(y_train))
    last_save = time.time()
    for epoch in range(done, settings.epochs):
        order = rng.permutation(len(y_train))
        for i in tqdm(range(skip, len(starts)), desc=f"QAFT epoch {epoch + 1}", unit="step", initial=skip,
                      total=len(starts), disable=not progress, leave=False):
            idx = order[starts[i]:starts[i] + settings.batch_size]
            params, opt_state, loss = train_step(params, opt_state, jnp.asarray(x_train[idx], jnp.float32),
                                                 jnp.asarray(y_train[idx]))
            losses.append(float(loss))
            if (partial is not None and i + 1 < len(starts)
                    and time.time() - last_save >= 60 * checkpoint_every_min):
                save(partial, epoch * len(starts) + i + 1, params, opt_state, "progress", {"losses": losses})
                last_save = time.time()
        q = quantize(config, params, exps, widths, neuron)
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                 "fixed_accuracy": fixed_accuracy(q, *evaluation)}
        history.append(entry)
        if manager is not None:
            save(manager, epoch + 1, params, opt_state, "history", history)
            last_save = time.time()
        if log:
            log(entry)
        skip, losses = 0, []
    for m in (manager, partial):
        if m is not None:
            m.close()
    return params, history


def prepare_qaft_workdir(workdir, settings: QaftConfig) -> Path:
    """Create a QAFT workdir recording `settings`, or accept one started with the same settings; refuses
    anything else (callers check this before hours of evaluation, not after)."""
    workdir = Path(workdir).absolute()
    record = workdir / "qaft_config.json"
    wanted = asdict(settings)
    if record.is_file():
        saved = json.loads(record.read_text())
        if saved != wanted:
            raise ValueError(f"QAFT workdir {workdir} was started with {saved}, not {wanted}")
    elif workdir.is_dir() and any(workdir.iterdir()):
        raise FileExistsError(f"QAFT workdir {workdir} is not empty and holds no qaft_config.json")
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(wanted) + "\n")
    return workdir


def _qaft_manager(workdir, settings: QaftConfig):
    """orbax manager of a QAFT workdir (the latest epoch is kept); refuses one started with other settings."""
    import orbax.checkpoint as ocp

    workdir = prepare_qaft_workdir(workdir, settings)
    options = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False)
    return ocp.CheckpointManager(workdir / "checkpoints", options=options, item_names=("state", "history"))


DEFAULT_CALIB = 256


def calibration_sequences(task: str, n: int, meta: dict, *, data_dir=None, source_dir=None) -> np.ndarray:
    """The first `n` training sequences of a task as floats in [0, 1] (what PTQ calibrates on)."""
    from s4d_jax import data

    if n < 1:
        raise ValueError(f"--calib must be a positive number of sequences, got {n}")
    split = data.load(task, "train", data_dir=data_dir, source_dir=source_dir,
                      permutation_seed=meta.get("permutation_seed"))
    return next(data.batches(split, n, limit=n))[0]


def resolve_quantized(path, config: ModelConfig, params, meta: dict, task: str, *, calib: int = DEFAULT_CALIB,
                      data_dir=None, source_dir=None, neuron: str | None = None) -> QuantizedModel:
    """The integer network of a MODEL: an exported directory's own integers (when `neuron` is None or its
    own), else PTQ of its float params for `neuron` (default split)."""
    from s4d_jax import export

    if export.is_exported(path):
        q = export.load_quantized(path)
        if neuron is None or q.neuron == neuron:
            return q
    return ptq(config, params, calibration_sequences(task, calib, meta, data_dir=data_dir, source_dir=source_dir),
               neuron=neuron or "split")[0]
