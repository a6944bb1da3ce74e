"""Directories a reader never sees half-written: built in a temporary sibling and renamed into place.

The sibling comes from mkdtemp, which makes it private (0700); it is opened up to the usual 0777 minus the
umask before anything is written, so the finished directory reads like any other the user creates. A full
disk is reported as one OSError naming the target (the sibling is removed, nothing is left behind).
"""
from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_directory(target: Path):
    """Yield an empty directory beside `target`; on a clean exit it is renamed to `target` (which must not
    exist), on any error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        os.rename(tmp, target)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in FULL_DISK:
            raise OSError(err.errno, f"{os.strerror(err.errno)} while writing {target}; nothing was written") from err
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_npz(path: Path, arrays: dict) -> None:
    """np.savez through memory: a failed write (a full disk) then leaves no half-closed zip behind whose
    finalizer would print a traceback at exit."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    Path(path).write_bytes(buffer.getvalue())
