"""Fetching zoo models into the cache ($S4D_CACHE, default ~/.cache/s4d-jax) and resolving MODEL arguments.

Cache layout:
    archives/<name>-<sha12>.zip   downloaded archives, present only once their sha256 matched
    models/<name>-<sha12>/        extracted models, present only once every file matched contents.json
    .partial/                     downloads and extractions in flight (one private folder each)

pooch downloads into a temporary file, checks the sha256 and only then moves it into place, removing the
temporary file on any error. On top of that, each download runs inside its own folder under .partial/, so
even a process killed outright leaves nothing beside the finished archives (stale folders are swept later),
and archives are extracted the same way (temporary folder, check, rename). Shipped archives (in the
repository) are used in place, verified against the registry each time, and extracted into the cache.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from zoo.archive import CHUNK, PARTS, check_contents, extract_archive, umask, unlisted_files, verify_file
from zoo.registry import Registry, UnknownModelError, ZooEntry, load_registry, unknown_name_message

DEFAULT_CACHE = "~/.cache/s4d-jax"
PARTIAL = ".partial"
STALE_SECONDS = 24 * 3600  # a .partial folder this old belongs to a download that was killed
HTTP_TIMEOUT_S = 60


class DownloadError(ValueError):
    """A model could not be fetched (network, server or file); nothing was kept."""


def cache_dir() -> Path:
    return Path(os.environ.get("S4D_CACHE") or DEFAULT_CACHE).expanduser()


def _stem(entry: ZooEntry) -> str:
    return f"{entry.name}-{entry.sha256[:12]}"


def cached_archive(entry: ZooEntry) -> Path:
    return cache_dir() / "archives" / f"{_stem(entry)}.zip"


def cached_model(entry: ZooEntry) -> Path:
    return cache_dir() / "models" / _stem(entry)


class FileDownloader:
    """pooch downloader for file:// URLs (pooch has none): a chunked copy with the same progress bar."""

    def __init__(self, progressbar: bool = True):
        self.progressbar = progressbar

    def __call__(self, url: str, output_file: str, pooch) -> None:
        from tqdm import tqdm

        source = Path(unquote(urlparse(url).path))
        if not source.is_file():
            raise FileNotFoundError(f"{url}: no such file")
        with open(source, "rb") as src, open(output_file, "wb") as dst, \
                tqdm(total=source.stat().st_size, unit="B", unit_scale=True, disable=not self.progressbar,
                     desc=source.name, leave=False) as bar:
            for block in iter(lambda: src.read(CHUNK), b""):
                dst.write(block)
                bar.update(len(block))


def _downloader(url: str, progress: bool):
    import pooch

    pooch.get_logger().setLevel("WARNING")  # its "Downloading data from ..." note repeats what the bar shows
    progress = progress and sys.stderr.isatty()  # a bar only where a terminal redraws it, not in logs
    if url.startswith("file://"):
        return FileDownloader(progress)
    return pooch.HTTPDownloader(progressbar=progress, timeout=HTTP_TIMEOUT_S)


def _sweep_partial(root: Path) -> None:
    """Remove download folders left by killed processes (old enough that no live download owns them)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        try:
            if time.time() - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


def download(entry: ZooEntry, *, force: bool = False, progress: bool = True) -> Path:
    """The entry's archive in the cache, downloaded from its URL and checked by sha256 unless already there."""
    import pooch
    import requests

    if entry.url is None:
        raise DownloadError(f"{entry.name} has no download URL")
    target = cached_archive(entry)
    if target.exists() and not force:
        try:
            verify_file(target, entry.sha256, entry.size, entry.name)
            return target
        except ValueError:
            pass  # a changed or damaged cached copy is downloaded again
    partial = cache_dir() / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    _sweep_partial(partial)
    staging = Path(tempfile.mkdtemp(prefix=f"{entry.name}.", dir=partial))
    try:
        fetched = Path(pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}", fname=target.name,
                                      path=staging, downloader=_downloader(entry.url, progress)))
        verify_file(fetched, entry.sha256, entry.size, entry.name)
        os.chmod(fetched, 0o666 & ~umask())  # pooch's temporary file is private
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, target)
    except (ValueError, OSError, requests.exceptions.RequestException) as err:
        raise DownloadError(f"download of {entry.name} from {entry.url} failed, nothing was kept: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def archive_of(entry: ZooEntry, registry: Registry, *, force: bool = False, progress: bool = True) -> Path:
    """The verified archive of an available model: the shipped one in place, else the downloaded one."""
    if entry.status != "available":
        raise ValueError(f"{entry.name} is {entry.status}: {entry.status_reason}")
    shipped = registry.archive_path(entry)
    if shipped is not None and (shipped.exists() or entry.url is None):
        verify_file(shipped, entry.sha256, entry.size, f"shipped model {entry.name}")
        return shipped
    return download(entry, force=force, progress=progress)


def fetch(name: str, *, force: bool = False, progress: bool = True, registry: Registry | None = None) -> Path:
    """The extracted model directory of zoo model `name` (params/, qaft/, export/, samples.npz, card.md),
    its files checked against contents.json on every call. `force` downloads and extracts again."""
    registry = registry or load_registry()
    entry = registry.get(name)
    archive = archive_of(entry, registry, force=force, progress=progress)
    model = cached_model(entry)
    if model.is_dir():
        if not force:
            try:
                check_contents(model, str(model), unlisted_ok=True)  # files a user added are left alone
                return model
            except (ValueError, OSError):
                pass  # a damaged or edited extraction is replaced by a fresh one
        foreign = unlisted_files(model)  # ... but never at the cost of a user's files
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ValueError(f"the cached copy of {name} ({model}) must be extracted again but holds files that "
                             f"did not come from its archive ({shown}); move them out of it and run again")
        shutil.rmtree(model)
    partial = cache_dir() / PARTIAL  # where a killed extraction's folder is swept like a killed download's
    _sweep_partial(partial)
    return extract_archive(archive, model, staging=partial)


def resolve(name_or_path: str | os.PathLike, *, part: str | None = None, force: bool = False,
            progress: bool = True, registry: Registry | None = None) -> Path:
    """A MODEL argument as a directory: an existing path is returned as is; a zoo name is fetched, verified
    and extracted, and its model directory returned (or its `part` subfolder: params, qaft or export)."""
    if not str(name_or_path).strip():
        raise ValueError("the MODEL argument is empty: give a zoo name or a path")
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    registry = registry or load_registry()
    name = str(name_or_path)
    if name not in registry:
        raise UnknownModelError(f"{name!r} is not an existing path, and "
                                + unknown_name_message(name, registry.names))
    model = fetch(name, force=force, progress=progress, registry=registry)
    if part is None:
        return model
    if part not in PARTS:
        raise ValueError(f"unknown model part {part!r}; parts are {PARTS}")
    if not (model / part).is_dir():
        raise FileNotFoundError(f"zoo model {name} has no {part}/ (it was packaged without it)")
    return model / part
