"""Parameter trees as files see them: flat "layers_0/log_dt" keys, and the check that a tree fits a config.

Shared by the params directory (checkpoint.py) and the exported model (export.py), so neither imports the other.
"""
from __future__ import annotations

import numpy as np

from s4d_jax.config import ModelConfig


def flatten_params(params) -> dict[str, np.ndarray]:
    """{"layers_0/log_dt": array, ...}: the key layout of params.npz."""
    from flax import traverse_util

    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(params, sep="/").items()}


def unflatten_params(flat: dict[str, np.ndarray]):
    from flax import traverse_util

    return traverse_util.unflatten_dict(dict(flat), sep="/")


def check_architecture(config: ModelConfig, params, where: str) -> None:
    """Raise if `params` do not have exactly the names and shapes a fresh model of `config` has."""
    import jax

    from s4d_jax.model import init_params

    from flax import traverse_util

    expected = jax.eval_shape(lambda: init_params(config, length=4))
    want, have = ({k: tuple(v.shape) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}
                  for tree in (expected, params))
    if want != have:
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        details = ", ".join(f"{k}: {have.get(k, 'missing')} vs expected {want.get(k, 'none')}" for k in diff[:4])
        raise ValueError(f"{where}: parameters do not match the architecture in its config ({details})")
    dtypes = {k: np.asarray(v).dtype for k, v in traverse_util.flatten_dict(params, sep="/").items()}
    wrong = sorted(k for k, dtype in dtypes.items() if dtype != np.float32)
    if wrong:
        raise ValueError(f"{where}: parameters must be float32, {wrong[0]} is {dtypes[wrong[0]]}"
                         + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))
