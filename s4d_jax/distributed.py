"""Training over several processes (hosts) with JAX's own multi-controller runtime, `jax.distributed`.

Every process runs the same program. The mesh spans the devices of all processes, ordered by process, so
process p owns the rows [p·b, (p+1)·b) of each global batch of P·b rows: it feeds only those
(`process_rows`), and `global_batch` stitches the per-process pieces into one global array. Parameters are
replicated, so the jitted step's gradient mean over the global batch becomes an all-reduce across processes
(gloo on CPU, NCCL on GPU, ICI on TPU). With one process every function here is the single-host path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import numpy as np

# The variables a launcher sets when it does not use one of JAX's detected clusters (SLURM, Open MPI, TPU pods).
ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID"}


@dataclass(frozen=True)
class Cluster:
    """Where this process sits in a multi-process job; None fields are left to JAX's cluster detection."""

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    def __post_init__(self) -> None:
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"the number of processes must be positive, got {self.num_processes}")
        if self.process_id is not None and not 0 <= self.process_id < (self.num_processes or self.process_id + 1):
            raise ValueError(f"process id {self.process_id} is not in [0, {self.num_processes})")

    @classmethod
    def from_env(cls, **given) -> "Cluster":
        """Flags first, then JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID."""
        values = {}
        for field, var in ENV.items():
            value = given.get(field)
            if value is None and os.environ.get(var):
                raw = os.environ[var]
                try:
                    value = raw if field == "coordinator_address" else int(raw)
                except ValueError:
                    raise ValueError(f"{var}={raw!r} is not an integer") from None
            values[field] = value
        return cls(**values)


def initialize(cluster: Cluster) -> None:
    """Join the job (blocks until every process has joined). Must run before anything touches a JAX device."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # cross-process collectives on CPU
    jax.distributed.initialize(cluster.coordinator_address, cluster.num_processes, cluster.process_id)


def is_primary() -> bool:
    """The one process that writes job-wide files (config, metrics log); orbax coordinates checkpoints itself."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait for every process (a no-op with one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def train_mesh() -> jax.sharding.Mesh:
    """One "data" axis over every device of every process, process by process."""
    return jax.sharding.Mesh(np.array(jax.devices()), ("data",))


def check_global_batch(batch_size: int) -> None:
    devices = jax.device_count()
    if batch_size < 1 or batch_size % devices:
        raise ValueError(f"batch size {batch_size} must be a positive multiple of the {devices} devices "
                         f"of all {jax.process_count()} processes")


def process_rows(batch_size: int) -> slice:
    """The rows of a global batch that this process feeds."""
    per_process = batch_size // jax.process_count()
    start = jax.process_index() * per_process
    return slice(start, start + per_process)


def global_batch(mesh: jax.sharding.Mesh, *local: np.ndarray) -> tuple[jax.Array, ...]:
    """Global arrays split along "data" from this process's rows of each."""
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    return tuple(jax.make_array_from_process_local_data(sharding, np.asarray(a)) for a in local)


def replicate(mesh: jax.sharding.Mesh, tree):
    """A copy of `tree` on every device of the mesh (every process passes the same values)."""
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.tree_util.tree_map(
        lambda a: jax.make_array_from_process_local_data(sharding, np.asarray(a)), tree)


def same_everywhere(flag: bool) -> bool:
    """Process 0's `flag` on every process: a decision taken from a clock (a mid-epoch checkpoint) must be one
    decision for the job, or the processes would wait for each other at different collectives."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))
