"""Flax's `Module.init` works on every module class of s4d_jax (no field shadows it), and old files load."""
import importlib
import inspect
import pkgutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

import s4d_jax
from s4d_jax.config import ModelConfig
from s4d_jax.layers import S4DLayer
from s4d_jax.model import S4DClassifier

CONFIG = ModelConfig(d_input=2, n_classes=3, d_model=4, d_state=4, n_layers=2)
# One small instance and input per module class; a new class must be added here to be covered.
EXAMPLES = {
    S4DLayer: (lambda: S4DLayer(4, 4, ssm_init="inv"), jnp.ones((1, 5, 4))),
    S4DClassifier: (lambda: S4DClassifier(CONFIG), jnp.ones((1, 5, 2))),
}


def module_classes() -> set[type]:
    found = set()
    for info in pkgutil.walk_packages(s4d_jax.__path__, "s4d_jax."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, nn.Module) and cls.__module__.startswith("s4d_jax"):
                found.add(cls)
    return found


def test_every_module_class_has_an_example():
    assert module_classes() == set(EXAMPLES)


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_module_init(cls):
    make, x = EXAMPLES[cls]
    module = make()
    variables = module.init(jax.random.PRNGKey(0), x)
    assert module.apply(variables, x).shape[0] == 1


def test_layer_keeps_the_config_field_name_and_parameter_names():
    """ModelConfig keeps `init` (saved config.json files carry it); parameter paths are unchanged."""
    params = S4DClassifier(CONFIG.replace(init="inv")).init(jax.random.PRNGKey(0), jnp.ones((1, 5, 2)))["params"]
    assert set(params["layers_0"]) == {"log_dt", "log_neg_re_a", "im_a", "b", "c", "d"}
    assert ModelConfig.from_dict({**CONFIG.to_dict(), "init": "inv"}).init == "inv"
