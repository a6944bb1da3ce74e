"""Gradual magnitude pruning (Zhu & Gupta 2017, arXiv:1710.01878) of the weights Loihi stores, as an optax
transformation.

Loihi 2 stores, and spends synaptic operations on, only the synapses it keeps, so the weights worth pruning
are those that become synapses or per-mode neuron inputs: the encoder, the S4D input vector B (one complex
entry per mode: b̄ = 0 silences the mode's expansion synapse), the S4D output vector C (c_re and c_im are
separate synapses), the mixers and the decoder. Between steps t0 and t1 the density of each pruned tensor
(or of all of them together, `scope="global"`) follows the cubic ramp

    d(t) = d_f + (1 − d_f) · (1 − (t − t0) / (t1 − t0))³,   d(t < t0) = 1,   d(t ≥ t1) = d_f,

and every `every` steps (and at t1) the smallest-magnitude weights still kept are dropped until d(t) is met.
The mask lives in the optimizer state, so it is checkpointed and restored with it (exact resume), and the
transformation replaces the update of a pruned weight w by −w: after the step the weight is exactly 0,
whatever Adam's moments or AdamW's weight decay proposed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Kinds of prunable weights: (parameter path match, unit axes folded into one unit).
KINDS: tuple[str, ...] = ("encoder", "b", "c", "mixers", "decoder")
SCOPES: tuple[str, ...] = ("layer", "global")


def kind_of(path: tuple[str, ...]) -> str | None:
    """The prunable kind of a parameter path of S4DClassifier, or None for parameters that are never pruned."""
    module, leaf = path[0], path[-1]
    if leaf == "kernel":
        for kind in ("encoder", "decoder", "mixers"):
            if module == kind or module.startswith(kind + "_"):
                return kind
    if module.startswith("layers_") and leaf in ("b", "c"):
        return leaf
    return None


def unit_scores(kind: str, value):
    """Magnitude of each pruning unit: |b| of a complex B entry [H, P]; |w| of every other weight."""
    import jax.numpy as jnp

    if kind == "b":
        return jnp.sqrt(value[..., 0] ** 2 + value[..., 1] ** 2)
    return jnp.abs(value)


def _expand(kind: str, mask):
    return mask[..., None] if kind == "b" else mask


@dataclass(frozen=True)
class PruneConfig:
    """A pruning schedule in optimizer steps (TrainConfig gives the start and end in epochs)."""

    target_density: float
    start_step: int
    end_step: int
    every: int = 50
    scope: str = "layer"
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        if not 0 < self.target_density <= 1:
            raise ValueError(f"target density must be in (0, 1], got {self.target_density}")
        if not 0 <= self.start_step <= self.end_step:
            raise ValueError(f"pruning must start at or after step 0 and end after it starts, got "
                             f"{self.start_step}..{self.end_step}")
        if self.every < 1:
            raise ValueError(f"mask updates need a positive interval, got {self.every}")
        if self.scope not in SCOPES:
            raise ValueError(f"pruning scope must be one of {SCOPES}, got {self.scope!r}")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"prunable tensors are {', '.join(KINDS)}; got {', '.join(self.kinds) or 'none'}")

    def density(self, step):
        """d(step) of the cubic ramp (works on Python numbers and traced JAX scalars alike)."""
        import jax.numpy as jnp

        span = max(self.end_step - self.start_step, 1)
        progress = jnp.clip((step - self.start_step) / span, 0.0, 1.0)
        ramp = self.target_density + (1.0 - self.target_density) * (1.0 - progress) ** 3
        # at t1 the target exactly, also for a one-shot schedule (t0 = t1)
        return jnp.where(step >= self.end_step, self.target_density, jnp.where(step < self.start_step, 1.0, ramp))

    def updates_mask(self, step):
        """Whether the masks are recomputed after this step."""
        in_window = (step >= self.start_step) & (step <= self.end_step)
        return in_window & (((step - self.start_step) % self.every == 0) | (step == self.end_step))


class PruneState(NamedTuple):
    count: Any  # optimizer steps taken (int32 scalar)
    masks: Any  # {module: {leaf: bool [units]}} for the pruned parameters only


def _flat(tree) -> dict:
    from flax import traverse_util

    return traverse_util.flatten_dict(dict(tree))


def _unflat(flat: dict) -> dict:
    from flax import traverse_util

    return traverse_util.unflatten_dict(flat)


def new_masks(params, masks: dict, density, scope: str) -> dict:
    """Keep the round(density · units) largest-magnitude units among those still kept, per tensor or globally.

    Units already pruned rank below every kept one, so the kept set only shrinks as the density falls."""
    import jax.numpy as jnp

    flat_p, flat_m = _flat(params), _flat(masks)
    paths = list(flat_m)
    scores = {p: jnp.where(flat_m[p], unit_scores(kind_of(p), flat_p[p]), -1.0) for p in paths}

    def keep_top(score):
        k = jnp.maximum(jnp.round(density * score.size), 1).astype(jnp.int32)
        rank = jnp.argsort(jnp.argsort(-score.ravel(), stable=True), stable=True)
        return (rank < k).reshape(score.shape) & (score >= 0)

    if scope == "layer":
        return _unflat({p: keep_top(scores[p]) for p in paths})
    joined = keep_top(jnp.concatenate([scores[p].ravel() for p in paths]))
    out, begin = {}, 0
    for p in paths:
        out[p] = joined[begin:begin + scores[p].size].reshape(scores[p].shape)
        begin += scores[p].size
    return _unflat(out)


def current_masks(params, kinds=KINDS) -> dict:
    """Units that are not exactly zero: the masks of a pruned model (a trained weight is never exactly 0)."""
    return _unflat({p: unit_scores(k, v) > 0 for p, v, k in
                    ((p, v, kind_of(p)) for p, v in _flat(params).items()) if k in kinds})


def apply_masks(updates, params, masks):
    """Updates that leave every pruned weight exactly 0: −w where the mask is off (w + (−w) = +0 in IEEE)."""
    import jax.numpy as jnp

    flat_u, flat_p, flat_m = _flat(updates), _flat(params), _flat(masks)
    for path, mask in flat_m.items():
        full = _expand(kind_of(path), mask)
        flat_u[path] = jnp.where(full, flat_u[path], -flat_p[path])
    return _unflat(flat_u)


def magnitude_pruning(cfg: PruneConfig):
    """optax transformation: chain it last so that it sees the final update of every step."""
    import jax
    import jax.numpy as jnp
    import optax

    def init(params):
        return PruneState(jnp.zeros((), jnp.int32), current_masks(params, cfg.kinds))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("magnitude_pruning needs the parameters (pass params to tx.update)")
        after = optax.apply_updates(params, updates)
        masks = jax.lax.cond(cfg.updates_mask(state.count),
                             lambda: new_masks(after, state.masks, cfg.density(state.count), cfg.scope),
                             lambda: state.masks)
        return apply_masks(updates, params, masks), PruneState(state.count + 1, masks)

    return optax.GradientTransformation(init, update)


def keep_zeros(kinds=KINDS):
    """optax transformation that keeps every weight which is exactly zero at init at zero (fine-tuning a pruned
    model, QAFT): the same masking as `magnitude_pruning` with masks fixed at init."""
    import optax

    def init(params):
        return PruneState(None, current_masks(params, kinds))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("keep_zeros needs the parameters (pass params to tx.update)")
        return apply_masks(updates, params, state.masks), state

    return optax.GradientTransformation(init, update)


def densities(params, kinds=KINDS) -> dict:
    """Fraction of nonzero units of every prunable tensor ("layers_0/b": 0.3, ...) and over all of them."""
    out, kept, total = {}, 0, 0
    for path, value in _flat(params).items():
        kind = kind_of(path)
        if kind not in kinds:
            continue
        score = np.asarray(unit_scores(kind, np.asarray(value)))
        nonzero = int(np.count_nonzero(score))
        out["/".join(path)] = round(nonzero / score.size, 4)
        kept, total = kept + nonzero, total + score.size
    out["all"] = round(kept / max(total, 1), 4)
    return out


def prune_once(params, density: float, kinds=KINDS, scope: str = "layer"):
    """One-shot magnitude pruning: `params` with all but the round(density · units) largest units of the
    given kinds set to 0 (the ranking of one mask update of the schedule; no fine-tuning)."""
    import jax

    masks = new_masks(params, current_masks(params, kinds), density, scope)
    updates = jax.tree_util.tree_map(lambda v: 0.0 * v, params)
    pruned = apply_masks(updates, params, masks)
    return jax.tree_util.tree_map(lambda p, u: np.asarray(p + u), dict(params), pruned)

