"""The Loihi S4D classifier (docs/design.md §2) and its input checks."""
from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax.config import MODES, Mode, ModelConfig
from s4d_jax.layers import S4DLayer


class StreamState(NamedTuple):
    """Everything a streaming classifier carries between tokens."""

    ssm: tuple[jax.Array, ...]  # one complex state [B, H, P] per layer
    pooled_sum: jax.Array  # Σ of final features so far, [B, H] (mean pooling)
    count: jax.Array  # tokens seen, scalar int32


class S4DClassifier(nn.Module):
    """Linear encoder → n_layers × [S4D → ReLU → Linear H×H] → pooling → Linear decoder.

    No normalization, no residuals, ReLU instead of GLU: the variant that maps onto Loihi 2.

    `dropout` regularizes training only (`train=True`, with a 'dropout' rng): after each ReLU it zeroes whole
    channels of a sequence, the same ones at every time step (tied over the length, as state-spaces/s4 does
    for its S4 blocks), so that a dropped channel is silent for the sequence instead of flickering. It has no
    parameters; inference, export and the fixed point never see it.
    """

    config: ModelConfig
    dropout: float = 0.0

    def setup(self) -> None:
        cfg = self.config
        self.encoder = nn.Dense(cfg.d_model)
        self.layers = [
            S4DLayer(cfg.d_model, cfg.d_state, ssm_init=cfg.init, dt_min=cfg.dt_min, dt_max=cfg.dt_max) for _ in range(cfg.n_layers)
        ]
        self.mixers = [nn.Dense(cfg.d_model) for _ in range(cfg.n_layers)]
        self.decoder = nn.Dense(cfg.n_classes)
        self.drop = nn.Dropout(self.dropout, broadcast_dims=(1,))  # [B, L, H]: one mask per (sequence, channel)

    def __call__(self, x: jax.Array, mode: Mode = "conv", train: bool = False) -> jax.Array:
        """Logits [B, classes] for inputs [B, L, d_input]; `train` switches dropout on."""
        check_inputs(x, self.config)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if mode == "recurrent":
            return self.stream(self.zero_state(x.shape[0]), x)[1][:, -1]
        h = self.encoder(x)
        for layer, mixer in zip(self.layers, self.mixers):
            h = mixer(self.drop(nn.relu(layer(h, mode)), deterministic=not train))
        pooled = h.mean(axis=1) if self.config.pooling == "mean" else h[:, -1]
        return self.decoder(pooled)

    def stream(self, state: StreamState, x: jax.Array) -> tuple[StreamState, jax.Array]:
        """Feed tokens x [B, T, d_input] after `state`; returns (state after, logits after each token [B, T, C]).

        Layers run one after another over the chunk; since each is causal this equals feeding the tokens one
        at a time through the whole network, and chunks can be any length (T = 1 is plain streaming).
        """
        h = self.encoder(x)
        new_ssm = []
        for layer, mixer, s in zip(self.layers, self.mixers, state.ssm):
            s, h = layer.stream(s, h)
            h = mixer(nn.relu(h))
            new_ssm.append(s)
        running = state.pooled_sum[:, None] + jnp.cumsum(h, axis=1)
        count = state.count + jnp.arange(1, x.shape[1] + 1, dtype=jnp.int32)
        pooled = running / count[None, :, None] if self.config.pooling == "mean" else h
        next_state = StreamState(tuple(new_ssm), running[:, -1], state.count + x.shape[1])
        return next_state, self.decoder(pooled)

    def zero_state(self, batch: int) -> StreamState:
        ssm_states = tuple(layer.zero_state(batch) for layer in self.layers)
        return StreamState(ssm_states, jnp.zeros((batch, self.config.d_model)), jnp.zeros((), jnp.int32))


def check_inputs(x, config: ModelConfig) -> None:
    """Reject inputs the model cannot mean anything for, naming the problem (shapes are static under jit)."""
    shape = tuple(x.shape)
    if len(shape) != 3:
        raise ValueError(f"inputs must have rank 3 [batch, length, channels], got shape {shape}")
    if shape[1] == 0:
        raise ValueError(f"inputs must have at least one time step, got length 0 (shape {shape})")
    if shape[2] != config.d_input:
        raise ValueError(f"inputs have {shape[2]} channels but the model expects d_input={config.d_input}")
    if not isinstance(x, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError("inputs contain non-finite values (NaN or inf)")


def count_params(params) -> int:
    return int(sum(np.size(p) for p in jax.tree_util.tree_leaves(params)))


def init_params(config: ModelConfig, seed: int = 0, length: int = 16):
    """Parameters of a fresh model (the shapes do not depend on `length`)."""
    model = S4DClassifier(config)
    return model.init(jax.random.PRNGKey(seed), jnp.zeros((1, length, config.d_input)))["params"]
