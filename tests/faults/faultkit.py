"""Helpers of the fault-injection suite: the ways to damage a file, tree digests, tmpfs mounts, and the
command line run in-process or as a child process (optionally SIGKILLed at the worst moment)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


# ---------------------------------------------------------------- damage

def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def bitflip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def tree_digest(root: Path, files_only: bool = False) -> str:
    """sha256 over every path, mode and file content under `root` (hidden leftovers included); `files_only`
    leaves out directories (a cache may keep its empty folders)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if files_only and path.is_dir():
            continue
        digest.update(str(path.relative_to(root)).encode() + oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- read-only and full file systems

def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@contextlib.contextmanager
def mounted(where: Path, size: str, read_only: bool = False, prepare=None):
    """Yield whether a tmpfs of `size` is mounted at `where` (filled by `prepare`, then made read-only if asked);
    unmounted on exit."""
    if not _mount_tmpfs(where, size):
        yield False
        return
    try:
        if prepare is not None:
            prepare(where)
        if read_only and subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True).returncode:
            yield False
            return
        yield True
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def limit_file_size(limit: int = 4096):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


# ---------------------------------------------------------------- running the command line

@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_in_process(capfd, monkeypatch, args) -> Result:
    """`s4d ARGS` in this process (JAX is loaded once for the whole suite). An exception other than SystemExit
    escapes and fails the test: that is a traceback the user would have seen."""
    from s4d import cli

    monkeypatch.setattr(sys, "argv", ["s4d", *map(str, args)])
    capfd.readouterr()
    try:
        cli.main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    out, err = capfd.readouterr()
    return Result(code, out, err)


KILL_DRIVER = """
import os, pathlib, signal, sys
target = os.environ.get("S4D_FAULT_KILL_AT")

def killing(real):
    def rename(src, dst, *args, **kwargs):
        if target and os.fspath(dst).rstrip("/").endswith(target):
            os.kill(os.getpid(), signal.SIGKILL)  # the worst moment: everything staged, nothing renamed yet
        return real(src, dst, *args, **kwargs)
    return rename

os.rename, os.replace = killing(os.rename), killing(os.replace)
pathlib._NormalAccessor.rename = staticmethod(killing(pathlib._NormalAccessor.rename))
pathlib._NormalAccessor.replace = staticmethod(killing(pathlib._NormalAccessor.replace))
if sys.argv[1] == "--train":
    import json
    sys.path.insert(0, {tests!r})
    from test_data import mock_tfds
    from s4d_jax.train import TrainConfig, train
    with mock_tfds():
        train(TrainConfig(**json.loads(sys.argv[3])), sys.argv[2], resume=True, progress=False)
else:
    from s4d.cli import main
    sys.argv = ["s4d", *sys.argv[1:]]
    main()
"""


def run_child(args, env=None, preexec_fn=None, kill_at: str | None = None, timeout: int = 300) -> Result:
    """`s4d ARGS` in a child process; with `kill_at` it SIGKILLs itself when about to rename a path ending so."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO), **(env or {})}
    if kill_at is not None:
        env["S4D_FAULT_KILL_AT"] = kill_at
    command = [sys.executable, "-c", KILL_DRIVER.replace("{tests!r}", repr(str(TESTS))), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, preexec_fn=preexec_fn,
                          timeout=timeout, cwd=REPO)
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: Result, match: str, code: int = 2) -> None:
    """Exit `code`, exactly one line on stderr that starts with "error:" and names the problem, no traceback."""
    assert "Traceback" not in result.err + result.out, result.err[-2000:]
    # what a terminal shows: a progress bar redrawn with carriage returns and cleared at its end is no line
    lines = [line.rsplit("\r", 1)[-1].strip() for line in result.err.split("\n")]
    lines = [line for line in lines if line]
    assert result.code == code, (result.code, result.err[-2000:])
    assert len(lines) == 1, result.err[-2000:]
    assert lines[0].startswith("error: "), lines[0]
    assert re.search(match, lines[0]), (match, lines[0])
