"""The S4D layer as a Flax Linen module: parameters here, math in `ssm`."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax import ssm

# Parameters of the state-space part; the trainer gives them their own learning rate and no weight decay.
SSM_PARAMS = ("log_dt", "log_neg_re_a", "im_a", "b")


def _log_uniform(low: float, high: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, np.log(low), np.log(high))

    return init


def _constant(value: np.ndarray):
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype).reshape(shape)


class S4DLayer(nn.Module):
    """H independent diagonal SSMs with N/2 complex modes each, mapping [B, L, H] → [B, L, H].

    `mode` chooses how a whole sequence is computed: "conv" (FFT kernel), "scan" (blocked associative scan) or
    "recurrent" (token by token). `stream` carries an explicit state across calls, for serving token by token.
    """

    d_model: int
    d_state: int
    ssm_init: str = "lin"  # S4D-Lin or S4D-Inv; not `init`, which would shadow flax's Module.init
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def setup(self) -> None:
        h, p = self.d_model, self.d_state // 2
        log_re, im = (ssm.init_lin if self.ssm_init == "lin" else ssm.init_inv)(h, p)
        self.log_dt = self.param("log_dt", _log_uniform(self.dt_min, self.dt_max), (h,))
        self.log_neg_re_a = self.param("log_neg_re_a", _constant(log_re), (h, p))
        self.im_a = self.param("im_a", _constant(im), (h, p))
        self.b = self.param("b", _constant(np.stack([np.ones((h, p)), np.zeros((h, p))], -1)), (h, p, 2))
        self.c = self.param("c", nn.initializers.normal(stddev=0.5**0.5), (h, p, 2))
        self.d = self.param("d", nn.initializers.normal(stddev=1.0), (h,))

    def discrete(self) -> tuple[jax.Array, jax.Array]:
        """(a, b̄) of the ZOH recurrence, complex [H, P]."""
        return ssm.discretize(self.log_dt, self.log_neg_re_a, self.im_a, self.b)

    def __call__(self, u: jax.Array, mode: str = "conv") -> jax.Array:
        a_bar, b_bar = self.discrete()
        if mode == "conv":
            k = ssm.kernel(a_bar, b_bar, self.c, u.shape[1])
            return ssm.causal_conv(u, k) + self.d * u
        if mode == "scan":
            return ssm.chunked_scan(a_bar, b_bar, self.c, u) + self.d * u
        if mode == "recurrent":
            return self.stream(self.zero_state(u.shape[0]), u)[1]
        raise ValueError(f"unknown mode {mode!r}; choose conv, scan or recurrent")

    def stream(self, state: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Token by token over u [B, T, H] from `state` [B, H, P]; returns (state after, y [B, T, H])."""
        a_bar, b_bar = self.discrete()
        return ssm.recurrent(a_bar, b_bar, self.c, self.d, state, u)

    def zero_state(self, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.d_model, self.d_state // 2), jnp.complex64)
