"""Token-by-token float inference with one compiled call per token, for live streams.

A jitted JAX call costs tens of microseconds of dispatch alone, more than the arithmetic of one token
(about 100k flops for s4d-67k). `StreamingClassifier` therefore runs the recurrence

    x ← a·x + b̄·u,   y = ReLU(2·Re(Σ_p C_p x_p) + D u),   h = W y + bias

as one numba-compiled loop per token over arrays taken once from the Flax parameters. It must agree with
`S4DClassifier.stream` (tests/test_streaming.py).
"""
from __future__ import annotations

import numba
import numpy as np

from s4d_jax import ssm
from s4d_jax.config import ModelConfig


class StreamingClassifier:
    """Feed one token at a time with `push`; `reset` starts new sequences."""

    def __init__(self, config: ModelConfig, params, batch: int = 1):
        self.config = config
        self.batch = batch
        layers = [params[f"layers_{i}"] for i in range(config.n_layers)]
        mixers = [params[f"mixers_{i}"] for i in range(config.n_layers)]
        discrete = [ssm.discretize(p["log_dt"], p["log_neg_re_a"], p["im_a"], p["b"]) for p in layers]
        as_f32 = lambda values: np.ascontiguousarray(np.stack([np.asarray(v) for v in values]), np.float32)
        self._weights = (
            np.asarray(params["encoder"]["kernel"], np.float32),
            np.asarray(params["encoder"]["bias"], np.float32),
            as_f32([a.real for a, _ in discrete]),
            as_f32([a.imag for a, _ in discrete]),
            as_f32([b.real for _, b in discrete]),
            as_f32([b.imag for _, b in discrete]),
            as_f32([2 * np.asarray(p["c"])[..., 0] for p in layers]),
            as_f32([2 * np.asarray(p["c"])[..., 1] for p in layers]),
            as_f32([p["d"] for p in layers]),
            as_f32([m["kernel"] for m in mixers]),
            as_f32([m["bias"] for m in mixers]),
            np.asarray(params["decoder"]["kernel"], np.float32),
            np.asarray(params["decoder"]["bias"], np.float32),
        )
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._state = np.zeros((2, self.batch, cfg.n_layers, cfg.d_model, cfg.n_modes), np.float32)
        self._pooled = np.zeros((self.batch, cfg.d_model), np.float32)
        self._count = np.zeros(1, np.int64)
        self._logits = np.zeros((self.batch, cfg.n_classes), np.float32)

    def push(self, x_t: np.ndarray) -> np.ndarray:
        """One token x_t [batch, d_input] → logits after it [batch, classes] (a view, overwritten next call)."""
        x_t = np.ascontiguousarray(x_t, np.float32)
        if x_t.shape != (self.batch, self.config.d_input):
            raise ValueError(f"token must have shape {(self.batch, self.config.d_input)}, got {x_t.shape}")
        mean = self.config.pooling == "mean"
        _step(x_t, *self._weights, self._state, self._pooled, self._count, mean, self._logits)
        return self._logits


@numba.njit(cache=True, fastmath=True)
def _step(x, enc_w, enc_b, a_re, a_im, b_re, b_im, c_re, c_im, d, mix_w, mix_b, dec_w, dec_b,
          state, pooled, count, mean, logits):
    channels = a_re.shape[1]
    h = np.empty(channels, np.float32)
    y = np.empty(channels, np.float32)
    count[0] += 1
    for i in range(x.shape[0]):
        _dense(x[i], enc_w, enc_b, h)
        for layer in range(a_re.shape[0]):
            _ssm_relu(h, a_re[layer], a_im[layer], b_re[layer], b_im[layer], c_re[layer], c_im[layer],
                      d[layer], state[0, i, layer], state[1, i, layer], y)
            _dense(y, mix_w[layer], mix_b[layer], h)
        if mean:
            pooled[i] += h
            h[:] = pooled[i] / count[0]
        _dense(h, dec_w, dec_b, logits[i])


@numba.njit(cache=True, fastmath=True)
def _dense(v, w, bias, out):
    """out = v @ w + bias, rows of w streamed contiguously."""
    out[:] = bias
    for k in range(v.shape[0]):
        vk = v[k]
        row = w[k]
        for j in range(out.shape[0]):
            out[j] += vk * row[j]


@numba.njit(cache=True, fastmath=True)
def _ssm_relu(u, a_re, a_im, b_re, b_im, c_re, c_im, d, xr, xi, y):
    """One S4D layer and its ReLU for one token: the complex update written out in real arithmetic."""
    for ch in range(u.shape[0]):
        u_ch = u[ch]
        acc = d[ch] * u_ch
        ar, ai, br, bi, cr, ci = a_re[ch], a_im[ch], b_re[ch], b_im[ch], c_re[ch], c_im[ch]
        r, im = xr[ch], xi[ch]
        for p in range(ar.shape[0]):
            new_r = ar[p] * r[p] - ai[p] * im[p] + br[p] * u_ch
            new_i = ar[p] * im[p] + ai[p] * r[p] + bi[p] * u_ch
            r[p] = new_r
            im[p] = new_i
            acc += cr[p] * new_r - ci[p] * new_i
        y[ch] = max(acc, 0.0)
