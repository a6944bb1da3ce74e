"""Model configuration: one frozen dataclass rebuilds any model, presets name the paper's sizes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Mode = Literal["conv", "scan", "recurrent"]
Pooling = Literal["mean", "last"]
Init = Literal["lin", "inv"]

MODES: tuple[str, ...] = ("conv", "scan", "recurrent")
POOLINGS: tuple[str, ...] = ("mean", "last")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the Loihi S4D classifier (docs/design.md §2).

    encoder Linear(d_input→d_model) → n_layers × [S4D → ReLU → Linear(d_model→d_model)] → pool → decoder.
    `d_state` is N; the layer keeps N/2 complex modes per channel (conjugate pairs folded).
    """

    d_input: int = 1
    n_classes: int = 10
    d_model: int = 64
    d_state: int = 64
    n_layers: int = 4
    pooling: Pooling = "mean"
    init: Init = "lin"
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def __post_init__(self) -> None:
        for name in ("d_input", "n_classes", "d_model", "d_state", "n_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.d_state % 2:
            raise ValueError(f"ModelConfig.d_state must be even (N/2 complex modes), got {self.d_state}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"ModelConfig.pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.init not in ("lin", "inv"):
            raise ValueError(f"ModelConfig.init must be 'lin' or 'inv', got {self.init!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")

    @property
    def n_modes(self) -> int:
        return self.d_state // 2

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {unknown}")
        return cls(**data)


PRESETS: dict[str, ModelConfig] = {
    "s4d-67k": ModelConfig(d_model=64, d_state=64),
    "s4d-265k": ModelConfig(d_model=128, d_state=128),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named paper size, optionally adapted (for example `d_input=3` for sCIFAR)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)
