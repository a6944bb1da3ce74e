"""The zoo: registry, cards, reproducible packaging, verified downloads (loopback HTTP and file://), the cache
never holding a half-written or unverified file, and the shipped models matching the registry."""
from __future__ import annotations

import dataclasses
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zoo.archive import CONTENTS, archive_inputs, check_contents, extract_archive, sha256_file, verify_file, \
    write_archive
from zoo.cache import DownloadError, cached_archive, cached_model, fetch, resolve
from zoo.cards import NOT_MEASURED
from zoo.registry import Accuracies, Registry, UnknownModelError, ZooEntry, load_registry
from zoo.samples import load_samples

from s4d.zoo_pack import card_text

REPO = Path(__file__).resolve().parents[1]
REGISTRY = load_registry(REPO / "zoo" / "registry.json")
SHIPPED = [e for e in REGISTRY.entries if e.archive is not None]


# ---------------------------------------------------------------- the repository's registry and cards

def test_registry_has_the_three_models_and_each_row_is_whole():
    assert {"smnist-s4d-67k", "psmnist-s4d-67k", "scifar-s4d-265k"} <= set(REGISTRY.names)
    assert REGISTRY.get("psmnist-s4d-67k").permutation_seed is not None
    for entry in REGISTRY.entries:  # loading checked each available row's checksum, size and goal or reason
        assert (entry.status == "available") == (entry.archive is not None), entry.name


def training_registry(tmp_path: Path) -> Registry:
    """A registry whose one model is still training: a row without weights, as a model is before it is packed."""
    entry = ZooEntry(name="late-s4d", task="scifar", preset="s4d-265k", description="a model still training",
                     status="training", status_reason="its run is at epoch 3 of 40")
    return Registry(tmp_path / "registry.json", (entry,))


@pytest.mark.parametrize("entry", REGISTRY.entries, ids=lambda e: e.name)
def test_card_in_repository_is_the_rendered_registry_row(entry):
    card = REGISTRY.card_path(entry).read_text(encoding="utf-8")
    assert card == card_text(entry), f"run `s4d zoo record {entry.name}` to rewrite the card from the registry"


def test_card_recipe_follows_how_the_model_was_quantized():
    entry = REGISTRY.get("smnist-s4d-67k")
    assert "--method qaft --save-params DIR/qaft" in card_text(entry)  # it records a figure after QAFT
    ptq_only = dataclasses.replace(entry, accuracies=Accuracies(float=99.0, ptq=98.9, fixed=98.9), training_time=None)
    card = card_text(ptq_only)
    assert "`s4d quantize DIR/params --method ptq --out DIR/export`" in card
    assert "qaft" not in card.lower().replace("after quantization-aware fine-tuning", "")


def test_card_shows_measured_numbers_and_says_what_is_not_measured():
    entry = REGISTRY.get("smnist-s4d-67k")
    entry = dataclasses.replace(entry, accuracies=dataclasses.replace(entry.accuracies, fixed=98.765, lava=100.0,
                                                                      lava_sequences=8, float=None))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in card_text(entry).splitlines()
             if line.startswith("| ")]
    rows = {row[0]: row[1] for row in cells}
    assert rows["exported fixed-point model (JAX fixed mode)"] == "98.77 %"
    assert rows["Lava fixed-point simulation (Loihi2SimCfg fixed_pt)"] == "100.00 % on 8 test sequences"
    assert rows["float (conv mode, float32)"] == NOT_MEASURED
    assert rows["neurocores"] == "31 on 1 chip" and rows["latency per token, estimated"].endswith(" µs")
    assert "The Lava figure covers only 8 test sequences" in card_text(entry)
    no_lava = dataclasses.replace(entry.accuracies, lava=None, lava_sequences=None)
    assert "The Lava figure" not in card_text(dataclasses.replace(entry, accuracies=no_lava))
    uncompiled = card_text(dataclasses.replace(entry, loihi2=None))
    assert "Not compiled yet: once the model ships, `s4d zoo record smnist-s4d-67k --compile`" in uncompiled
    assert "| neurocores |" not in uncompiled


@pytest.mark.parametrize("entry", REGISTRY.entries, ids=lambda e: e.name)
def test_card_front_matter_is_what_model_hubs_read(entry):
    yaml = pytest.importorskip("yaml")
    text = card_text(entry)
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "apache-2.0" and {"s4d", "state-space-model", "loihi2", "neuromorphic"} <= set(
        front["tags"])
    assert front["datasets"] == [{"smnist": "mnist", "psmnist": "mnist", "scifar": "cifar10"}[entry.task]]
    results = front["model-index"][0]["results"][0]
    measured = [getattr(entry.accuracies, k) for k in ("float", "ptq", "qaft", "fixed", "lava")]
    assert [m["value"] for m in results["metrics"]] == [v for v in measured if v is not None]
    assert results["dataset"]["split"] == "test"


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_matches_the_registry(entry, tmp_path):
    archive = REGISTRY.archive_path(entry)
    verify_file(archive, entry.sha256, entry.size, entry.name)
    model = extract_archive(archive, tmp_path / entry.name)
    assert {"params/config.json", "params/params.npz", "params/meta.json", "samples.npz", "card.md"} <= set(
        check_contents(model, entry.name))


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_registry_records_what_the_compiler_reports_for_the_shipped_export(entry, tmp_path):
    """The card's Loihi 2 section stays true when the compiler's model changes: re-record with
    `s4d zoo record NAME --compile`."""
    from s4d.zoo_pack import loihi2_summary

    model = extract_archive(REGISTRY.archive_path(entry), tmp_path / entry.name)
    assert entry.loihi2 == loihi2_summary(model / "export"), f"run `s4d zoo record {entry.name} --compile`"
    # silent modes (b̄ = 0 after rounding) leave the chip: never more cores than a random network of the preset
    full = {"s4d-67k": 31, "s4d-265k": 120}[entry.preset]
    assert entry.loihi2.chips == 1 and entry.loihi2.neurocores <= full
    if entry.preset == "s4d-67k":  # the dense sMNIST models fill the paper's 31 cores, the sparse one fewer
        assert (entry.loihi2.neurocores == full) == ("sparse" not in entry.name)
    assert f"| neurocores | {entry.loihi2.neurocores} on 1 chip |" in card_text(entry)


def test_unknown_name_lists_the_closest_names(tmp_path):
    with pytest.raises(UnknownModelError, match="did you mean smnist-s4d-67k"):
        resolve("smnist-s4d-67", registry=REGISTRY)
    with pytest.raises(UnknownModelError, match="psmnist-s4d-67k"):
        REGISTRY.get("psmnist")
    assert resolve(tmp_path) == tmp_path  # an existing path is used as is
    with pytest.raises(ValueError, match="empty"):
        resolve("")


def test_not_yet_available_model_says_why(cache, tmp_path):
    with pytest.raises(ValueError, match="^late-s4d is training: its run is at epoch 3 of 40$"):
        resolve("late-s4d", registry=training_registry(tmp_path))


def test_registry_rejects_bad_rows():
    base = dict(name="m", task="smnist", preset="s4d-67k", description="d")
    with pytest.raises(ValueError, match="status_reason"):
        ZooEntry(**base)
    with pytest.raises(ValueError, match="sha256"):
        ZooEntry(**base, status="available", url="https://x/m.zip", sha256="abc", size=3)
    with pytest.raises(ValueError, match="needs its sha256 and size"):
        Registry(Path("registry.json"), (ZooEntry(**base, status="available", url="https://x/m.zip"),))
    with pytest.raises(ValueError, match="listed twice"):
        Registry(Path("registry.json"), (ZooEntry(**base, status_reason="r"),) * 2)
    with pytest.raises(ValueError, match="names files"):
        ZooEntry(**{**base, "name": "../m"}, status_reason="r")
    with pytest.raises(ValueError, match="url must start"):
        ZooEntry(**base, status="available", url="ftp://x/m.zip", sha256="0" * 64, size=3)
    with pytest.raises(ValueError, match="permutation seed"):
        ZooEntry(**base, status_reason="r", permutation_seed=0)
    shipped = dict(base, status="available", url="https://x/m.zip", sha256="0" * 64, size=3, goal_fixed=99.2)
    with pytest.raises(ValueError, match="short of its goal of 99.2 %, without a below_goal reason"):
        Registry(Path("registry.json"), (ZooEntry(**shipped, accuracies=Accuracies(fixed=99.1)),))
    Registry(Path("registry.json"), (ZooEntry(**shipped, accuracies=Accuracies(fixed=99.1), below_goal="Why."),))
    with pytest.raises(ValueError, match="goal_fixed must be a percentage"):
        ZooEntry(**{**shipped, "goal_fixed": 120})

    summary = dataclasses.asdict(REGISTRY.get("smnist-s4d-67k").loihi2)
    row = {**base, "status_reason": "r"}
    assert ZooEntry.from_dict({**row, "loihi2": summary}).loihi2 == REGISTRY.get("smnist-s4d-67k").loihi2
    with pytest.raises(ValueError, match=r"loihi2.estimated_energy_uj_per_token_range must be \[low, high\]"):
        ZooEntry.from_dict({**row, "loihi2": {**summary, "estimated_energy_uj_per_token_range": [5.0, 0.02]}})
    with pytest.raises(ValueError, match="loihi2.neurocores must be a positive integer"):
        ZooEntry.from_dict({**row, "loihi2": {**summary, "neurocores": 0}})
    with pytest.raises(ValueError, match="loihi2 summary lacks 'chips'"):
        ZooEntry.from_dict({**row, "loihi2": {k: v for k, v in summary.items() if k != "chips"}})
    with pytest.raises(ValueError, match=r"loihi2: unknown fields \['cores'\]"):
        ZooEntry.from_dict({**row, "loihi2": {**summary, "cores": 3}})


# ---------------------------------------------------------------- a tiny archive served by the tests

@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("S4D_CACHE", str(root))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return root


@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory) -> Path:
    """A small model archive written by the real packaging code: a params folder, samples and a card."""
    src = tmp_path_factory.mktemp("tiny")
    (src / "params").mkdir()
    (src / "params" / "config.json").write_text(json.dumps({"d_model": 4}))
    np.savez(src / "params" / "params.npz", w=np.arange(4096, dtype=np.float32))
    np.savez(src / "samples.npz", sequences=np.zeros((2, 784, 1), np.uint8), labels=np.array([7, 2]),
             indices=np.array([0, 1]), source=np.asarray("zeros"))
    (src / "card.md").write_text("# tiny\n")
    out = src / "tiny.zip"
    write_archive(out, archive_inputs({"params": src / "params"}, src / "samples.npz", src / "card.md"))
    return out


def tiny_registry(tmp_path: Path, served: Path, **fields) -> Registry:
    """A registry with one available model: the sha256 and size of `served`, and `fields`."""
    entry = dict(name="tiny-s4d", task="smnist", preset="s4d-67k", description="a tiny test archive",
                 status="available", sha256=sha256_file(served), size=served.stat().st_size)
    return Registry(tmp_path / "registry.json", (ZooEntry(**{**entry, **fields}),))


class _Server:
    """A loopback HTTP server in a thread serving one archive; `cut_after` bytes then a dropped connection."""

    def __init__(self, payload: bytes, cut_after: int | None = None):
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload if cut_after is None else payload[:cut_after])
                self.wfile.flush()
                if cut_after is not None:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tiny.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def cache_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_over_http_verifies_extracts_and_reuses_the_cache(tmp_path, cache, tiny_archive):
    with _Server(tiny_archive.read_bytes()) as server:
        registry = tiny_registry(tmp_path, tiny_archive, url=server.url)
        entry = registry.get("tiny-s4d")
        model = resolve("tiny-s4d", registry=registry, progress=False)
        assert model == cached_model(entry) and (model / "params" / "config.json").is_file()
        assert sha256_file(cached_archive(entry)) == entry.sha256
        assert resolve("tiny-s4d", part="params", registry=registry) == model / "params"
        assert server.requests == 1  # the second call used the cache
        fetch("tiny-s4d", force=True, registry=registry, progress=False)
        assert server.requests == 2
    assert load_samples(model).labels.tolist() == [7, 2]
    assert not [f for f in cache_files(cache) if f.startswith(".partial")]


def _npy_named_npz(path):
    with open(path, "wb") as f:  # np.save(path) would add .npy to the name
        np.save(f, np.zeros((1, 4, 1), np.uint8))


@pytest.mark.parametrize("write, message", [
    (lambda path: None, "cannot be read"),
    (lambda path: path.write_bytes(b""), "cannot be read"),
    (lambda path: path.write_bytes(b"PK\x03\x04 half a zip"), "cannot be read"),
    (_npy_named_npz, "this is a single .npy array"),
    (lambda path: np.savez(path, sequences=np.zeros((1, 4, 1), np.uint8)), "missing arrays"),
], ids=["missing", "empty", "truncated", ".npy", "missing arrays"])
def test_a_bad_samples_file_is_a_one_line_value_error(tmp_path, write, message):
    path = tmp_path / "samples.npz"
    write(path)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        load_samples(path)
    assert "\n" not in str(err.value)


def test_download_from_file_url(tmp_path, cache, tiny_archive):
    registry = tiny_registry(tmp_path, tiny_archive, url=tiny_archive.as_uri())
    model = fetch("tiny-s4d", registry=registry, progress=False)
    assert check_contents(model, "tiny") == ["card.md", "params/config.json", "params/params.npz", "samples.npz"]


def test_download_sweeps_folders_left_by_killed_downloads(tmp_path, cache, tiny_archive):
    stale, live = cache / ".partial" / "tiny-s4d.killed", cache / ".partial" / "tiny-s4d.running"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "tiny-s4d.zip").write_bytes(b"half")
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    fetch("tiny-s4d", registry=tiny_registry(tmp_path, tiny_archive, url=tiny_archive.as_uri()), progress=False)
    assert not stale.exists() and live.exists()


def test_wrong_sha256_fails_and_leaves_nothing_in_the_cache(tmp_path, cache, tiny_archive):
    with _Server(tiny_archive.read_bytes()) as server:
        registry = tiny_registry(tmp_path, tiny_archive, url=server.url, sha256="0" * 64)
        with pytest.raises(DownloadError, match="nothing was kept"):
            resolve("tiny-s4d", registry=registry, progress=False)
    assert cache_files(cache) == []


def test_interrupted_download_leaves_nothing_half_written(tmp_path, cache, tiny_archive):
    payload = tiny_archive.read_bytes()
    with _Server(payload, cut_after=len(payload) // 2) as server:
        registry = tiny_registry(tmp_path, tiny_archive, url=server.url)
        with pytest.raises(DownloadError, match="nothing was kept"):
            fetch("tiny-s4d", registry=registry, progress=False)
    assert cache_files(cache) == []


def test_changed_shipped_archive_is_refused(tmp_path, cache, tiny_archive):
    shipped = tmp_path / "models" / "tiny-s4d" / "tiny-s4d.zip"
    shipped.parent.mkdir(parents=True)
    data = bytearray(tiny_archive.read_bytes())
    shipped.write_bytes(data)
    registry = tiny_registry(tmp_path, tiny_archive, archive="models/tiny-s4d/tiny-s4d.zip")
    assert (fetch("tiny-s4d", registry=registry) / "card.md").read_text() == "# tiny\n"
    data[len(data) // 2] ^= 1
    shipped.write_bytes(data)
    with pytest.raises(ValueError, match="sha256 of .* the file was changed"):
        fetch("tiny-s4d", registry=registry)


def test_archive_with_wrong_contents_is_not_extracted(tmp_path, tiny_archive):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(tiny_archive) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data.replace(b"# tiny", b"# tinY") if info.filename == "card.md" else data)
    with pytest.raises(ValueError, match="card.md: sha256"):
        extract_archive(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["bad.zip"]


def test_archive_member_outside_the_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.txt", b"x")
        zf.writestr(CONTENTS, b'{"files": []}')
    with pytest.raises(ValueError, match="outside the archive"):
        extract_archive(evil, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- packaging a real (untrained) model

def _write_mnist_test_split(folder: Path, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """The original IDX test files with `n` images (the format read_mnist parses), returning images and labels."""
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (n, 28, 28), np.uint8), rng.integers(0, 10, n).astype(np.uint8)
    folder.mkdir(parents=True)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([0x0803, n, 28, 28], ">i4").tobytes() + images.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([0x0801, n], ">i4").tobytes() + labels.tobytes())
    return images, labels


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """params/ and qaft/ directories of untrained s4d-67k psMNIST models, written by s4d_jax.checkpoint."""
    from s4d_jax.checkpoint import save_params
    from s4d_jax.config import preset
    from s4d_jax.model import init_params

    root = tmp_path_factory.mktemp("run")
    config = preset("s4d-67k")
    meta = {"task": "psmnist", "permutation_seed": 0, "metrics": {}, "command": "s4d train --task psmnist"}
    save_params(root / "params", config, init_params(config), meta)
    save_params(root / "qaft", config, init_params(config, seed=1), meta)
    return root


def test_pack_is_reproducible_and_records_the_archive(tmp_path, cache, trained_dir):
    from s4d.zoo_pack import pack

    images, labels = _write_mnist_test_split(tmp_path / "data" / "mnist")
    entry = dataclasses.replace(REGISTRY.get("psmnist-s4d-67k"))
    registry = Registry(tmp_path / "zoo" / "registry.json", (entry,))
    registry.path.parent.mkdir()
    registry.save()
    kwargs = dict(source=trained_dir, n_samples=5, source_dir=str(tmp_path / "data"), date="2026-11-23",
                  accuracies={"float": 12.5}, training_time="1 s", below_goal="a test model")
    first = pack("psmnist-s4d-67k", registry=registry, **kwargs)
    again = pack("psmnist-s4d-67k", registry=load_registry(registry.path), **kwargs)
    assert first == again and first.status == "available" and first.accuracies.float == 12.5
    # none of the earlier model's figures (fixed 96.75 % and the rest) carries over to the new one
    assert dataclasses.replace(first.accuracies, float=None) == Accuracies() and first.below_goal == "a test model"
    assert first.training_command == "s4d train --task psmnist"
    saved = load_registry(registry.path).get("psmnist-s4d-67k")
    assert saved == first and registry.card_path(saved).read_text(encoding="utf-8") == card_text(saved)
    verify_file(registry.archive_path(saved), saved.sha256, saved.size, saved.name)

    model = resolve("psmnist-s4d-67k", registry=load_registry(registry.path))
    assert sorted(p.name for p in model.iterdir()) == ["card.md", CONTENTS, "params", "qaft", "samples.npz"]
    from s4d_jax.data import permutation
    samples = load_samples(model, shape=(784, 1))
    assert samples.labels.tolist() == labels[:5].tolist() and samples.indices.tolist() == list(range(5))
    want = images[:5].reshape(5, 784, 1)[:, permutation(0, 784)]
    assert np.array_equal(samples.sequences, want) and "permuted" in samples.source
    from s4d_jax.checkpoint import load_params_dir
    config, _, meta = load_params_dir(model / "params")
    assert config.d_model == 64 and meta["task"] == "psmnist"


def test_pack_records_the_compile_summary_of_the_export(tmp_path, cache, trained_dir):
    from s4d.zoo_pack import pack

    _write_mnist_test_split(tmp_path / "data" / "mnist")
    shipped = resolve("psmnist-s4d-67k", registry=REGISTRY, progress=False)
    registry = Registry(tmp_path / "zoo" / "registry.json", (dataclasses.replace(REGISTRY.get("psmnist-s4d-67k"),
                                                                               loihi2=None),))
    registry.path.parent.mkdir()
    registry.save()
    entry = pack("psmnist-s4d-67k", registry=registry, source=trained_dir, export=shipped / "export", n_samples=2,
                 source_dir=str(tmp_path / "data"), date="2026-11-27", training_command="s4d train --task psmnist -x",
                 accuracies={"fixed": 96.75})
    assert entry.training_command == "s4d train --task psmnist -x"  # instead of the params' recorded command
    assert entry.loihi2.neurocores == 31 and entry.loihi2.mode == "pipelined" and entry.loihi2.objective == "latency"
    assert load_registry(registry.path).get("psmnist-s4d-67k").loihi2 == entry.loihi2
    model = resolve("psmnist-s4d-67k", registry=load_registry(registry.path), progress=False)
    assert "| neurocores | 31 on 1 chip |" in (model / "card.md").read_text("utf-8")


def test_pack_refuses_a_model_short_of_its_goal_unless_its_card_says_why(tmp_path, trained_dir):
    from s4d.zoo_pack import pack

    _write_mnist_test_split(tmp_path / "data" / "mnist")
    unmeasured = dataclasses.replace(REGISTRY.get("psmnist-s4d-67k"), accuracies=Accuracies(), status="training",
                                     status_reason="a test")
    registry = Registry(tmp_path / "zoo" / "registry.json", (unmeasured,))
    registry.path.parent.mkdir()
    registry.save()
    before = registry.path.read_bytes()
    kwargs = dict(source=trained_dir, n_samples=2, source_dir=str(tmp_path / "data"), date="2026-11-26")
    with pytest.raises(ValueError, match="has no fixed-point accuracy recorded, short of its goal of 96.16 %"):
        pack("psmnist-s4d-67k", registry=registry, **kwargs)
    with pytest.raises(ValueError, match=r"reaches 90.0 % in fixed point, short of its goal of 96.16 %.*--below-goal"):
        pack("psmnist-s4d-67k", registry=registry, accuracies={"fixed": 90.0}, **kwargs)
    assert registry.path.read_bytes() == before and not (registry.root / "models").exists()

    short = pack("psmnist-s4d-67k", registry=registry, accuracies={"fixed": 90.0}, below_goal="A test. ", **kwargs)
    line = ("- Below its goal: 90.00 % in fixed point on the full test set, against the 96.16 % it is meant to reach. "
            "A test.")
    assert short.below_goal == "A test." and line in registry.card_path(short).read_text(encoding="utf-8")
    reached = pack("psmnist-s4d-67k", registry=load_registry(registry.path), accuracies={"fixed": 96.2}, **kwargs)
    assert reached.below_goal is None and "Below its goal" not in registry.card_path(reached).read_text("utf-8")
    assert load_registry(registry.path).get("psmnist-s4d-67k") == reached

    # `s4d zoo record` restates the shortfall with the new figure and keeps the recorded reason
    env = {**os.environ, "S4D_ZOO_REGISTRY": str(registry.path)}
    assert _s4d("record", "psmnist-s4d-67k", "--accuracy", "fixed=95.5", "--below-goal", "B.", env=env).returncode == 0
    assert _s4d("record", "psmnist-s4d-67k", "--accuracy", "fixed=95.0", env=env).returncode == 0
    card = registry.card_path(reached).read_text("utf-8")
    assert "- Below its goal: 95.00 % in fixed point on the full test set, against the 96.16 % it is meant to " \
           "reach. B." in card and "95.50" not in card


def test_pack_refuses_params_of_another_task_and_a_bad_export(tmp_path, trained_dir):
    from s4d.zoo_pack import pack

    rows = (REGISTRY.get("smnist-s4d-67k"), REGISTRY.get("psmnist-s4d-67k"))
    registry = Registry(tmp_path / "registry.json", rows)
    with pytest.raises(ValueError, match="trained on task 'psmnist'"):
        pack("smnist-s4d-67k", source=trained_dir, registry=registry)
    export = tmp_path / "export"
    export.mkdir()
    (export / "manifest.json").write_text('{"format_version": 1}\n')
    with pytest.raises(ValueError, match="architecture"):
        pack("psmnist-s4d-67k", source=trained_dir, export=export, registry=registry)
    assert not (tmp_path / "models").exists() and not registry.path.exists()


# ---------------------------------------------------------------- the command line

def _s4d(*args, env=None):
    return subprocess.run([sys.executable, "-m", "s4d.cli", "zoo", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)


def test_zoo_imports_no_jax():
    code = "import sys, zoo, s4d.cli.zoo, s4d.zoo_pack; assert 'jax' not in sys.modules, 'zoo imported jax'"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True).returncode == 0


def test_cli_list_and_info_print_one_json_object():
    listed = _s4d("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [m["name"] for m in json.loads(listed.stdout)["models"]] == REGISTRY.names
    info = _s4d("info", "psmnist-s4d-67k", "--json")
    assert json.loads(info.stdout)["permutation_seed"] == 0
    unknown = _s4d("info", "smnist")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: no model named 'smnist'")
    assert "smnist-s4d-67k" in unknown.stderr and "Traceback" not in unknown.stderr
    rows = [line.split() for line in _s4d("list").stdout.splitlines()]
    assert rows[0][:7] == ["name", "task", "preset", "status", "fixed", "%", "cores"]
    assert {row[0]: row[5] for row in rows[1:]}["smnist-s4d-67k-sparse"] == "12"  # its neurocores
    text = _s4d("info", "smnist-s4d-67k").stdout
    assert "loihi2: 31 neurocores on 1 chip" in text and "(estimates)" in text


def test_cli_refuses_to_compile_a_model_without_weights_and_leaves_its_registry_alone(tmp_path):
    registry = training_registry(tmp_path)
    registry.save()
    before = registry.path.read_bytes()
    env = {**os.environ, "S4D_ZOO_REGISTRY": str(registry.path)}
    training = _s4d("record", "late-s4d", "--compile", env=env)
    assert training.returncode == 2 and training.stderr.count("\n") == 1
    assert training.stderr.startswith("error: late-s4d is not available (training)")
    assert registry.path.read_bytes() == before


def test_cli_download_prints_one_json_object_repairs_the_cache_and_force_fetches_again(tmp_path, tiny_archive):
    registry = tiny_registry(tmp_path, tiny_archive, url=tiny_archive.as_uri())
    registry.save()
    env = {**os.environ, "S4D_ZOO_REGISTRY": str(registry.path), "S4D_CACHE": str(tmp_path / "cache")}
    first = _s4d("download", "tiny-s4d", "--json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert Path(result["path"]).is_dir() and result["sha256"] == registry.get("tiny-s4d").sha256
    (Path(result["path"]) / "card.md").write_text("edited")  # an edited extraction is replaced
    again = _s4d("download", "tiny-s4d", env=env)
    assert again.returncode == 0 and again.stdout.strip() == result["path"]
    assert (Path(result["path"]) / "card.md").read_text() == "# tiny\n"
    archive = next((tmp_path / "cache" / "archives").glob("*.zip"))
    inode = archive.stat().st_ino
    forced = _s4d("download", "tiny-s4d", "--force", env=env)
    assert forced.returncode == 0 and archive.stat().st_ino != inode  # fetched again (a new file renamed in)
    assert forced.stderr == ""  # no progress bar where no terminal redraws it


def test_a_lava_accuracy_without_its_sequence_count_is_refused():
    with pytest.raises(ValueError, match="needs the number of sequences"):
        Accuracies(lava=100.0)
    assert Accuracies(lava=100.0, lava_sequences=3).lava_sequences == 3


def test_an_extraction_stages_where_a_killed_one_is_swept(cache, monkeypatch):
    import zoo.archive as za

    staged_in = []
    check = za.check_contents

    def watched(folder, what):
        staged_in.append(Path(folder).parent)
        return check(folder, what)

    monkeypatch.setattr(za, "check_contents", watched)
    stale = cache / ".partial" / ".smnist-s4d-67k-0123456789ab.killed"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))  # left by an extraction killed long ago
    model = resolve("smnist-s4d-67k", registry=REGISTRY, progress=False)
    assert staged_in == [cache / ".partial"] and not stale.exists()
    assert [p.name for p in (cache / "models").iterdir()] == [model.name]  # nothing else beside the model


def test_a_users_file_in_the_cached_model_is_never_deleted(cache):
    model = resolve("smnist-s4d-67k", registry=REGISTRY, progress=False)
    mine = model / "export" / "my_report.json"
    mine.write_text("{}")
    assert resolve("smnist-s4d-67k", registry=REGISTRY, progress=False) == model and mine.exists()
    (model / "card.md").write_text("edited")  # a damaged extraction must be replaced, but not over my file
    with pytest.raises(ValueError, match=r"holds files that did not come from its archive \(export/my_report.json\)"):
        fetch("smnist-s4d-67k", registry=REGISTRY, progress=False)
    with pytest.raises(ValueError, match="move them out of it"):
        fetch("smnist-s4d-67k", force=True, registry=REGISTRY, progress=False)
    assert mine.read_text() == "{}"
    mine.unlink()
    assert check_contents(fetch("smnist-s4d-67k", registry=REGISTRY, progress=False), "cache")  # replaced whole
