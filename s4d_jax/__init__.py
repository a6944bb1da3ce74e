"""S4D state-space sequence models in JAX, with a fixed-point mode that matches Loihi 2 bit for bit.

Importing the package is cheap; JAX loads with the submodules that need it.
"""
import os

__version__ = "0.1.0"


def _deterministic_cpu_contractions() -> None:
    """Run XLA's CPU matrix products on one Eigen thread unless the user chose otherwise in XLA_FLAGS.

    Eigen's multi-threaded contraction splits a long inner dimension (the batch × length sum of a weight
    gradient) across threads and adds the parts in the order they finish, so two identical training runs on
    a busy machine differ in the last bit, and a resumed run cannot equal the uninterrupted one. With one
    Eigen thread every step is reproducible; XLA still runs independent operations in parallel, and the
    training step is as fast (docs/performance.md). It must be set before JAX creates its CPU backend, hence
    at import; it has no effect on accelerators.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


_deterministic_cpu_contractions()
