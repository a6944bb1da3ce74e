"""`s4d demo`: the main job of `make demo`."""
from __future__ import annotations

import typer


def demo(
    preset: str = typer.Option("s4d-67k", help="model size to build"),
    length: int = typer.Option(784, help="tokens in the random test sequence"),
) -> None:
    """Build a preset model and run one random sequence through every mode, showing that they agree."""
    import jax
    import jax.numpy as jnp

    from s4d_jax.config import MODES
    from s4d_jax.config import preset as get_preset
    from s4d_jax.model import S4DClassifier, count_params, init_params

    config = get_preset(preset)
    params = init_params(config)
    model = S4DClassifier(config)
    print(f"built {preset}: H={config.d_model}, N={config.d_state}, {count_params(params):,} parameters")
    x = jax.random.uniform(jax.random.PRNGKey(0), (1, length, config.d_input))
    logits = {mode: model.apply({"params": params}, x, mode) for mode in MODES}
    scale = float(jnp.abs(logits["conv"]).max())
    for mode in MODES:
        diff = float(jnp.abs(logits[mode] - logits["conv"]).max()) / scale
        print(f"{mode:>9}: class {int(logits[mode].argmax())}, max |Δ logits| / scale vs conv = {diff:.1e}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
