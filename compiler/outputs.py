"""Output directories of `s4d compile --out`: never half-written, never at the cost of a user's files.

Rules: a missing or empty directory receives the outputs as a whole (written into a temporary sibling, then
renamed into place); a directory holding only this tool's files gets them replaced; any other non-empty
directory is refused unless `force`, and even then only the tool's own files are replaced (each written to a
temporary file beside it, then renamed over it), so a user's files stay byte for byte what they were.
Directories and files get the usual permissions (0777/0666 minus the umask), not mkdtemp's private 0700.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def foreign_entries(out: Path, own: tuple[str, ...]) -> list[str]:
    """Names in `out` that this tool did not write (and would never replace)."""
    staging = tuple(f".{name}." for name in own)  # left by a killed run; replaced like the files themselves
    return sorted(p.name for p in out.iterdir() if p.name not in own and not p.name.startswith(staging))


def check_writable(option: str, path: Path) -> None:
    """Refuse, before any work, an output path whose directory (itself if it is one, else the nearest existing
    parent it would be created in) is not writable."""
    where = path if path.is_dir() else next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not os.access(where, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {path}: {where} is not writable")


def check_out_dir(out, own: tuple[str, ...], force: bool = False) -> None:
    """Refuse, before any work is done, an --out this tool must not write into."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a directory")
    check_writable("--out", out)
    if out.is_dir() and not force:
        foreign = foreign_entries(out, own)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise FileExistsError(f"--out {out} holds files this tool did not write ({shown}); choose an empty or "
                                  f"new directory, or pass --force to replace only {', '.join(own)} in it")


def write_files(out, files: dict[str, bytes], force: bool = False) -> Path:
    """Write `files` (name → bytes) as the directory `out`, following the rules above."""
    out = Path(out)
    own = tuple(files)
    check_out_dir(out, own, force)
    try:
        if out.is_dir() and any(out.iterdir()):
            _replace_files(out, files)
        else:
            _new_directory(out, files)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise OSError(err.errno, f"{os.strerror(err.errno)} while writing {out}; nothing was written") from err
        raise
    return out


def _new_directory(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~umask())
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        os.replace(tmp, out)  # onto a missing or empty directory
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_files(out: Path, files: dict[str, bytes]) -> None:
    for name in files:  # temporaries of a run that was killed before its renames
        for stale in out.glob(f".{name}.*"):
            stale.unlink(missing_ok=True)
    staged: dict[str, str] = {}
    try:
        for name, data in files.items():  # all written first, so a full disk replaces none of them
            fd, staged[name] = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(staged[name], 0o666 & ~umask())
        for name in files:
            os.replace(staged.pop(name), out / name)
    finally:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
