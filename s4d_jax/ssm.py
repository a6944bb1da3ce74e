"""The diagonal state-space math of S4D, as pure functions on arrays.

Continuous system per channel h and complex mode p (conjugate pairs folded, so N/2 modes):

    x'(t) = A x(t) + B u(t),   y(t) = 2·Re(Σ_p C_p x_p(t)) + D u(t)

Zero-order hold with step Δ gives the recurrence used by every mode:

    a = exp(ΔA),  b = (exp(ΔA) − 1) / A · B,  x_k = a·x_{k−1} + b·u_k,  y_k = 2·Re(Σ_p C_p x_{k,p}) + D u_k

Unrolled, y = K * u + D u with the kernel K_l = 2·Re(Σ_p C_p b_p a_p^l).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def continuous_a(log_neg_re_a: jax.Array, im_a: jax.Array) -> jax.Array:
    """A = −exp(log(−Re A)) + i·Im A: the real part stays negative, so the system stays stable."""
    return -jnp.exp(log_neg_re_a) + 1j * im_a


def discretize(log_dt, log_neg_re_a, im_a, b) -> tuple[jax.Array, jax.Array]:
    """ZOH: (a, b̄) with a = exp(ΔA), b̄ = (a − 1)/A · B. Shapes [H, P] complex; `b` is [H, P, 2] (re, im)."""
    a_cont = continuous_a(log_neg_re_a, im_a)
    dt_a = jnp.exp(log_dt)[:, None] * a_cont
    a_bar = jnp.exp(dt_a)
    b_bar = (a_bar - 1.0) / a_cont * as_complex(b)
    return a_bar, b_bar


def as_complex(pair: jax.Array) -> jax.Array:
    """[..., 2] real/imag pairs → complex; parameters are stored real so optimizers see real numbers."""
    return jax.lax.complex(pair[..., 0], pair[..., 1])


def kernel(a_bar, b_bar, c, length: int) -> jax.Array:
    """K[h, l] = 2·Re(Σ_p C_p b̄_p a_p^l), l < length, evaluated as a Vandermonde product. Shape [H, L]."""
    powers = jnp.exp(jnp.log(a_bar)[..., None] * jnp.arange(length))  # [H, P, L]
    return 2.0 * jnp.einsum("hp,hpl->hl", as_complex(c) * b_bar, powers).real


def fft_size(length: int) -> int:
    """Smallest 7-smooth size ≥ 2·length − 1: a linear (not circular) convolution at a size FFTs like."""
    size = 2 * length - 1
    while not _is_smooth(size):
        size += 1
    return size


def _is_smooth(n: int) -> bool:
    for prime in (2, 3, 5, 7):
        while n % prime == 0:
            n //= prime
    return n == 1


def causal_conv(u: jax.Array, k: jax.Array) -> jax.Array:
    """y[b, l, h] = Σ_{j≤l} k[h, l−j] · u[b, j, h] by real FFTs along time."""
    length = u.shape[1]
    n = fft_size(length)
    u_f = jnp.fft.rfft(u, n=n, axis=1)
    k_f = jnp.fft.rfft(k.T, n=n, axis=0)
    return jnp.fft.irfft(u_f * k_f, n=n, axis=1)[:, :length]


def scan_states(a_bar, b_bar, u: jax.Array) -> jax.Array:
    """All states x_k for u [B, L, H] by a parallel associative scan. Shape [B, L, H, P] complex."""

    def combine(left, right):
        a_l, x_l = left
        a_r, x_r = right
        return a_l * a_r, a_r * x_l + x_r

    a_seq = jnp.broadcast_to(a_bar, (u.shape[1],) + a_bar.shape)[None]
    _, states = jax.lax.associative_scan(combine, (a_seq, b_bar * u[..., None]), axis=1)
    return states


def readout(c, d, states, u) -> jax.Array:
    """y = 2·Re(Σ_p C_p x_p) + D u for states [..., H, P] and inputs [..., H]."""
    return 2.0 * jnp.einsum("hp,...hp->...h", as_complex(c), states).real + d * u


def recurrent(a_bar, b_bar, c, d, x0, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Token by token from state x0 [B, H, P]; returns (final state, y [B, L, H])."""
    c_c = as_complex(c)

    def step(x, u_k):
        x = a_bar * x + b_bar * u_k[..., None]
        return x, 2.0 * jnp.einsum("hp,bhp->bh", c_c, x).real + d * u_k

    x_last, ys = jax.lax.scan(step, x0, jnp.swapaxes(u, 0, 1))
    return x_last, jnp.swapaxes(ys, 0, 1)


def init_lin(n_channels: int, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """S4D-Lin: A_p = −1/2 + iπp. Returns (log(−Re A), Im A), each [H, P]."""
    re = np.full((n_channels, n_modes), 0.5)
    im = np.broadcast_to(np.pi * np.arange(n_modes), (n_channels, n_modes))
    return np.log(re), np.array(im)


def init_inv(n_channels: int, n_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """S4D-Inv: A_p = −1/2 + i·(N/π)·(N/(2p+1) − 1) with N = 2·n_modes."""
    n = 2 * n_modes
    p = np.arange(n_modes)
    re = np.full((n_channels, n_modes), 0.5)
    im = np.broadcast_to(n / np.pi * (n / (2 * p + 1) - 1), (n_channels, n_modes))
    return np.log(re), np.array(im)
