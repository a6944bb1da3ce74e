"""One model = one zip archive, built byte-for-byte reproducibly and extracted only after it checks out.

Layout inside the archive:
    params/      float params directory (config.json, params.npz, meta.json; s4d_jax.checkpoint)
    qaft/        the quantization-aware fine-tuned params (when packaged)
    export/      the exported fixed-point model (manifest.json + tensors; docs/export_format.md)
    samples.npz  a few real test sequences with labels, their source written inside (offline demo)
    card.md      the model card at packing time
    contents.json  sha256 and size of every other file, checked again after extraction

Entries are sorted and carry a fixed date and mode, so the same inputs give the same bytes (with the same
zlib), and the registry's sha256 identifies the content.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

CONTENTS = "contents.json"
SAMPLES = "samples.npz"
CARD = "card.md"
PARTS = ("params", "qaft", "export")
ARCHIVE_FORMAT = 1
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date zip can store: no build time leaks into the bytes
FILE_MODE = 0o644
CHUNK = 1 << 20


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str, size: int, what: str) -> None:
    """Raise unless `path` has exactly `size` bytes and the given sha256."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path} is missing")
    have = path.stat().st_size
    if have != size:
        raise ValueError(f"{what}: {path} has {have} bytes, the registry says {size}; the file was changed "
                         "or is incomplete")
    digest = sha256_file(path)
    if digest != sha256:
        raise ValueError(f"{what}: sha256 of {path} is {digest}, the registry says {sha256}; the file was changed")


def _tree_files(root: Path, prefix: str) -> dict[str, Path]:
    """Every regular file under `root`, keyed by its archive name; links and other oddities are refused."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ValueError(f"{path}: only regular files and folders can be packaged")
        if path.is_file():
            files[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
    if not files:
        raise ValueError(f"{root} is empty")
    return files


def archive_inputs(parts: dict[str, Path], samples: Path, card: Path) -> dict[str, Path]:
    """Archive name → file, for the given part folders (a subset of PARTS), samples file and card."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown archive parts {unknown}; parts are {PARTS}")
    files: dict[str, Path] = {}
    for part, folder in parts.items():
        if not folder.is_dir():
            raise NotADirectoryError(f"{part}: {folder} is not a directory")
        files.update(_tree_files(folder, part))
    files[SAMPLES] = samples
    files[CARD] = card
    return files


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (0o100000 | FILE_MODE) << 16
    info.create_system = 3
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data, compresslevel=9)


def write_archive(out: Path, files: dict[str, Path]) -> tuple[str, int]:
    """Write the archive of `files` (archive name → file) at `out` atomically; returns (sha256, size)."""
    contents = {
        "format": ARCHIVE_FORMAT,
        "files": [{"path": name, "sha256": sha256_file(path), "size": path.stat().st_size}
                  for name, path in sorted(files.items())],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            for name in sorted(files):
                _zip_entry(zf, name, files[name].read_bytes())
            _zip_entry(zf, CONTENTS, (json.dumps(contents, indent=2) + "\n").encode())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_file(out), out.stat().st_size


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
        raise ValueError(f"{archive}: refusing the archive member {name!r} (it points outside the archive)")
    return path


def _listed(folder: Path, where: str) -> dict:
    try:
        contents = json.loads((folder / CONTENTS).read_text())
        return {f["path"]: f for f in contents["files"]}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{where}: missing or unreadable {CONTENTS}: {err}") from err


def _present(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {CONTENTS}


def unlisted_files(folder: Path) -> list[str]:
    """Files in an extracted model that its contents.json does not list: put there by someone, not by us (all
    of them when contents.json itself is unreadable)."""
    try:
        listed = set(_listed(folder, str(folder)))
    except ValueError:
        listed = set()
    return sorted(_present(folder) - listed)


def check_contents(folder: Path, where: str, unlisted_ok: bool = False) -> list[str]:
    """Check every file listed in `folder`/contents.json (sha256, size) and, unless `unlisted_ok`, that
    nothing else is there."""
    listed = _listed(folder, where)
    present = _present(folder)
    extra, missing = [] if unlisted_ok else sorted(present - set(listed)), sorted(set(listed) - present)
    if extra or missing:
        raise ValueError(f"{where}: files differ from {CONTENTS} (unlisted: {extra}, missing: {missing})")
    for name, record in listed.items():
        verify_file(folder / name, record["sha256"], record["size"], f"{where}: {name}")
    return sorted(listed)


def extract_archive(archive: Path, dest: Path, staging: Path | None = None) -> Path:
    """Extract `archive` into `dest` so that `dest` appears only complete and checked: members go to a
    temporary folder in `staging` (default: beside `dest`; on the same file system, where a process killed
    midway leaves it for the owner of `staging` to sweep), are checked against contents.json, and the folder
    is then renamed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent if staging is None else staging
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=staging))
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = tmp.joinpath(*_safe_name(info.filename, archive).parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        check_contents(tmp, str(archive))
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp's private 0700 is not meant for the finished folder
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():  # another process may have finished the same extraction first
                raise
            shutil.rmtree(tmp)
    except zipfile.BadZipFile as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"{archive} is not a valid zip archive: {err}") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
