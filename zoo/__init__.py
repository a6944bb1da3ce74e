"""The model zoo: a registry of pretrained S4D models, verified downloads into a cache, and model cards.

`resolve(name_or_path)` is what every MODEL argument goes through: a path is used as is, a zoo name is
fetched (or taken from the repository), checked by sha256 and extracted into the cache. Nothing here
imports JAX.
"""
from zoo.archive import PARTS
from zoo.cache import DownloadError, cache_dir, fetch, resolve
from zoo.registry import Registry, UnknownModelError, ZooEntry, load_registry
from zoo.samples import Samples, load_samples

__all__ = ["PARTS", "DownloadError", "Registry", "Samples", "UnknownModelError", "ZooEntry", "cache_dir", "fetch",
           "load_registry", "load_samples", "resolve"]
