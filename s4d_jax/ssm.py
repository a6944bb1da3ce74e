"""The diagonal state-space math of S4D, as pure functions on arrays.

Continuous system per channel h and complex mode p (conjugate pairs folded, so N/2 modes):

    x'(t) = A x(t) + B u(t),   y(t) = 2·Re(Σ_p C_p x_p(t)) + D u(t)

Zero-order hold with step Δ gives the recurrence used by every mode:

    a = exp(ΔA),  b = (exp(ΔA) − 1) / A · B,  x_k = a·x_{k−1} + b·u_k,  y_k = 2·Re(Σ_p C_p x_{k,p}) + D u_k

Unrolled, y = K * u + D u with the kernel K_l = 2·Re(Σ_p C_p b_p a_p^l).
"""
from __future__ import annotations

import os

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
    """K[h, l] = 2·Re(Σ_p C_p b̄_p a_p^l), l < length. Shape [H, L].

    Two-level powers: with l = q·T + r (T ≈ √L), a^l = (a^T)^q · a^r, so
    K[h, q, r] = 2·Re(Σ_p (C b̄ a^(qT))_p · (a^r)_p) is one real matmul per channel over the 2P (re, im) rows.
    That takes H·P·(Q + T) complex exponentials instead of the H·P·L of a plain Vandermonde product.
    """
    t = max(1, int(np.ceil(np.sqrt(length))))
    q = -(-length // t)
    log_a = jnp.log(a_bar)[..., None]
    coarse = (as_complex(c) * b_bar)[..., None] * jnp.exp(log_a * (t * jnp.arange(q)))  # C b̄ a^(qT), [H, P, Q]
    fine = jnp.exp(log_a * jnp.arange(t))  # a^r, [H, P, T]
    # Re(x·y) = x_re·y_re − x_im·y_im, summed over p: one contraction over 2P real rows
    lhs = jnp.concatenate([coarse.real, -coarse.imag], axis=1)
    rhs = jnp.concatenate([fine.real, fine.imag], axis=1)
    return 2.0 * jnp.einsum("hsq,hsr->hqr", lhs, rhs).reshape(a_bar.shape[0], q * t)[:, :length]


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


def causal_conv(u: jax.Array, k: jax.Array, streams: int | None = None) -> jax.Array:
    """y[b, l, h] = Σ_{j≤l} k[h, l−j] · u[b, j, h] by real FFTs along time.

    The FFTs run over the last axis of [B, H, L] (XLA's CPU FFT is markedly faster there than on a middle
    axis), so the input is transposed once in and once out. XLA's CPU FFT runs on one thread, but its thunk
    executor runs independent operations at once: the channels are cut into `streams` groups (default: one
    per CPU core, 1 on accelerators) whose FFTs are separate operations, so every core gets a share.
    """
    length = u.shape[1]
    n = fft_size(length)
    streams = min(fft_streams() if streams is None else streams, u.shape[2])
    u_t = jnp.swapaxes(u, 1, 2)
    k_f = jnp.fft.rfft(k, n=n)
    bounds = np.linspace(0, u.shape[2], streams + 1).round().astype(int)
    y = jnp.concatenate([
        jnp.fft.irfft(jnp.fft.rfft(u_t[:, lo:hi], n=n) * k_f[lo:hi], n=n)[..., :length]
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ], axis=1)
    return jnp.swapaxes(y, 1, 2)


def fft_streams() -> int:
    """Independent FFT operations per convolution: the CPU cores on the CPU backend, else one."""
    return (os.cpu_count() or 1) if jax.default_backend() == "cpu" else 1


def chunk_length(length: int, target: int = 128) -> int:
    """Chunk size near `target` that wastes the least padding (784 → 7 chunks of 112, 1024 → 8 of 128)."""
    n_chunks = -(-length // target)
    return -(-length // n_chunks)


def chunked_scan(a_bar, b_bar, c, u: jax.Array, chunk: int | None = None) -> jax.Array:
    """SSM output 2·Re(Σ_p C_p x_p) for u [B, L, H] by a blocked parallel scan (no D term).

    Time is cut into chunks of T tokens. Inside a chunk the output is a small causal Toeplitz product with
    the kernel K[0:T]. Across chunks only the state travels: each chunk's end state
    s_c = Σ_j a^(T−1−j) b̄ u_{c,j} enters `jax.lax.associative_scan` with the decay a^T, and the state
    carried in adds 2·Re(C a^(i+1) S_{c−1}) to token i of chunk c. All heavy work is real matmuls, and memory
    stays O(B·L·H + B·(L/T)·H·P) instead of the O(B·L·H·P) of scanning every token's state.
    """
    batch, length, channels = u.shape
    t = chunk or chunk_length(length)
    n_chunks = -(-length // t)
    n_modes = a_bar.shape[-1]
    u_c = jnp.pad(u, ((0, 0), (0, n_chunks * t - length), (0, 0))).reshape(batch, n_chunks, t, channels)
    c_c = as_complex(c)
    powers = jnp.exp(jnp.log(a_bar)[..., None] * jnp.arange(t + 1))  # a^0 … a^T, [H, P, T+1]

    k = 2.0 * jnp.einsum("hp,hpl->hl", c_c * b_bar, powers[..., :t]).real
    lag = jnp.arange(t)[:, None] - jnp.arange(t)[None, :]
    toeplitz = jnp.where(lag >= 0, k[:, jnp.clip(lag, 0)], 0.0)  # [H, T, T]
    y = jnp.einsum("bcjh,hij->bcih", u_c, toeplitz)

    into_state = powers[..., t - 1 :: -1][..., :t] * b_bar[..., None]  # a^(T−1−j)·b̄, [H, P, T]
    s = jnp.einsum("bcjh,hsj->bchs", u_c, jnp.concatenate([into_state.real, into_state.imag], 1))
    s = jax.lax.complex(s[..., :n_modes], s[..., n_modes:])
    decay = jnp.broadcast_to(powers[..., t], (1, n_chunks) + a_bar.shape)
    _, ends = jax.lax.associative_scan(_combine, (decay, s), axis=1)
    carried = jnp.concatenate([jnp.zeros_like(ends[:, :1]), ends[:, :-1]], axis=1)

    out_of_state = 2.0 * c_c[..., None] * powers[..., 1:]  # 2·C·a^(i+1), [H, P, T]
    y += jnp.einsum(
        "bchs,hsi->bcih",
        jnp.concatenate([carried.real, carried.imag], -1),
        jnp.concatenate([out_of_state.real, -out_of_state.imag], 1),
    )
    return y.reshape(batch, n_chunks * t, channels)[:, :length]


def _combine(left, right):
    """Composition of two affine maps x ↦ a·x + s: the associative operator of a linear recurrence."""
    a_l, s_l = left
    a_r, s_r = right
    return a_l * a_r, a_r * s_l + s_r


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
