"""Multi-process training with jax.distributed: two processes on one global batch train exactly one model."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from s4d import cli
from s4d_jax import checkpoint
from s4d_jax.distributed import Cluster
from s4d_jax.train import TrainConfig

# two steps of a global batch of 4 (2 rows per process), then one validation pass and one checkpoint
CFG = TrainConfig(epochs=1, batch_size=4, eval_batch_size=10, limit_train=8, warmup_epochs=0.5,
                  model_overrides=(("d_model", 8), ("d_state", 4), ("n_layers", 2)))

DRIVER = """
import json, sys
sys.path.insert(0, {tests!r})
from s4d_jax import distributed
if sys.argv[3] == "distributed":
    distributed.initialize(distributed.Cluster.from_env())  # JAX_COORDINATOR_ADDRESS, ..._NUM_PROCESSES, ..._ID
from test_data import mock_tfds
from s4d_jax.train import TrainConfig, train
with mock_tfds():
    train(TrainConfig(**json.loads(sys.argv[2])), sys.argv[1], progress=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(driver, workdir, how, env=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    return subprocess.Popen([sys.executable, str(driver), str(workdir), json.dumps(CFG.to_dict()), how],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _params(workdir):
    manager = checkpoint.checkpoint_manager(Path(workdir), read_only=True)
    return checkpoint.flatten_params(checkpoint.load_workdir(Path(workdir), step=manager.latest_step())[1])


def test_two_processes_train_the_same_model_as_one(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(Path(__file__).parent)))
    address = f"127.0.0.1:{_free_port()}"
    jobs = [_start(driver, tmp_path / "two", "distributed",
                   {"JAX_COORDINATOR_ADDRESS": address, "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)})
            for i in range(2)]
    jobs.append(_start(driver, tmp_path / "one", "single"))
    try:
        for job in jobs:
            _, err = job.communicate(timeout=600)  # a hang guard; on an idle machine the test takes well under a minute
            assert job.returncode == 0, err[-3000:]
    finally:
        for job in jobs:
            job.kill()

    two, one = _params(tmp_path / "two"), _params(tmp_path / "one")
    assert sorted(two) == sorted(one)
    start = checkpoint.flatten_params(_initial_params())
    for key, value in one.items():
        assert not np.allclose(value, start[key]), f"{key} did not train"
        np.testing.assert_allclose(two[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    lines = (tmp_path / "two" / checkpoint.METRICS).read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2]  # one log line for the job, not one per process
    assert len(list((tmp_path / "two" / checkpoint.CHECKPOINTS).iterdir())) == 1


def _initial_params():
    from s4d_jax.model import init_params

    return init_params(CFG.model_config(), CFG.seed)


@pytest.mark.parametrize("env, flags, message", [
    ({}, ["--process-id", "1"], "need --distributed"),
    ({"JAX_NUM_PROCESSES": "two"}, ["--distributed"], "JAX_NUM_PROCESSES='two' is not an integer"),
    ({}, ["--distributed", "--num-processes", "2", "--process-id", "2"], "process id 2 is not in [0, 2)"),
])
def test_bad_cluster_settings_are_one_line_errors(env, flags, message, tmp_path, monkeypatch, capsys):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(sys, "argv", ["s4d", "train", "--workdir", str(tmp_path / "w"), *flags])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "w").exists()


def test_cluster_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert Cluster.from_env(process_id=1) == Cluster("10.0.0.1:1234", 4, 1)
    assert Cluster.from_env() == Cluster("10.0.0.1:1234", 4, 3)

