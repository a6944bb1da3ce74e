"""The zoo's registry: one JSON file (zoo/registry.json), one frozen `ZooEntry` per model.

The file is the single source of what a model is (task, preset, permutation seed), where it comes from (a URL
or an archive shipped in the repository), how to check it (sha256, size) and what was measured on it. Numbers
stay null until they are measured; cards are rendered from this file, never written by hand.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

ZOO_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = ZOO_DIR / "registry.json"
STATUSES = ("available", "training", "not yet available")  # training: a run is under way, no weights ship
ACCURACY_KINDS = ("float", "ptq", "qaft", "fixed", "lava")
SHA256_HEX = 64
MODELS_DIR = "models"  # under the registry's folder: models/<name>/card.md and the shipped archive


class UnknownModelError(ValueError):
    """A name that is neither an existing path nor a model of the zoo."""


@dataclass(frozen=True)
class Accuracies:
    """Test accuracies in percent, null until measured. `lava` is measured on `lava_sequences` sequences only
    (Lava's CPU simulation is slow); the others on the whole test split."""

    float: float | None = None
    ptq: float | None = None
    qaft: float | None = None
    fixed: float | None = None
    lava: float | None = None
    lava_sequences: int | None = None

    def __post_init__(self) -> None:
        for kind in ACCURACY_KINDS:
            value = getattr(self, kind)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 100):
                raise ValueError(f"accuracy {kind} must be a percentage in [0, 100] or null, got {value!r}")
        if self.lava_sequences is not None and (not isinstance(self.lava_sequences, int) or self.lava_sequences < 1):
            raise ValueError(f"lava_sequences must be a positive integer or null, got {self.lava_sequences!r}")
        if self.lava is not None and self.lava_sequences is None:
            raise ValueError("a Lava accuracy needs the number of sequences it was measured on (lava_sequences, "
                             "--lava-sequences)")


@dataclass(frozen=True)
class Loihi2Summary:
    """What `s4d compile NAME` (pipelined, latency objective) reports for the shipped fixed-point model: the
    mapping is exact for the compiler's resource model; latency and energy per token are estimates, [low, high]
    ranges whose constants and their provenance are in docs/compiler.md, not measurements on a chip."""

    neuron: str
    mode: str
    objective: str
    neurocores: int
    chips: int
    latency_steps: int
    synaptic_memory_bytes: int
    estimated_latency_us_per_token_range: tuple[float, float]
    estimated_energy_uj_per_token_range: tuple[float, float]

    def __post_init__(self) -> None:
        for name in ("neurocores", "chips", "latency_steps", "synaptic_memory_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"loihi2.{name} must be a positive integer, got {value!r}")
        for name in ("estimated_latency_us_per_token_range", "estimated_energy_uj_per_token_range"):
            value = getattr(self, name)
            if (len(value) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in value)
                    or value[0] > value[1]):
                raise ValueError(f"loihi2.{name} must be [low, high] with 0 < low ≤ high, got {list(value)!r}")

    @classmethod
    def from_report(cls, report) -> "Loihi2Summary":
        """The summary of a compile report (the mapping of `s4d compile --json`, or a registry row's loihi2)."""
        try:
            return cls(**{f.name: (tuple(report[f.name]) if f.name.endswith("_range") else report[f.name])
                          for f in dataclasses.fields(cls)})
        except KeyError as err:
            raise ValueError(f"loihi2 summary lacks {err.args[0]!r}") from None
        except TypeError as err:
            raise ValueError(f"loihi2 summary: {err}") from None


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo. `archive` (relative to the registry's folder) is set when the model ships in the
    repository; `url` is where it is downloaded from otherwise (https, http or file://)."""

    name: str
    task: str
    preset: str
    description: str
    permutation_seed: int | None = None
    status: str = "not yet available"
    status_reason: str | None = None
    url: str | None = None
    archive: str | None = None
    sha256: str | None = None
    size: int | None = None
    accuracies: Accuracies = Accuracies()
    training_command: str | None = None
    training_time: str | None = None
    date: str | None = None
    limits: tuple[str, ...] = ()
    # the fixed-point test accuracy (percent) the model is meant to reach: the paper's figure for its task.
    # An available model short of it (or not measured in fixed point) ships only with `below_goal`, the reason,
    # which its card states beside the figures
    goal_fixed: float | None = None
    below_goal: str | None = None
    loihi2: Loihi2Summary | None = None  # the shipped export's compile summary; null until compiled

    def __post_init__(self) -> None:
        where = f"zoo entry {self.name!r}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", self.name):
            raise ValueError(f"{where}: a name is lowercase letters, digits, '-' and '.' (it names files)")
        if self.status not in STATUSES:
            raise ValueError(f"{where}: status must be one of {STATUSES}, got {self.status!r}")
        if self.status != "available" and not self.status_reason:
            raise ValueError(f"{where}: a model that is not yet available needs a status_reason saying why")
        if self.sha256 is not None and (len(self.sha256) != SHA256_HEX
                                        or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"{where}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            raise ValueError(f"{where}: size must be a positive number of bytes, got {self.size!r}")
        if self.url is not None and not self.url.startswith(("https://", "http://", "file://")):
            raise ValueError(f"{where}: url must start with https://, http:// or file://, got {self.url!r}")
        goal = self.goal_fixed
        if goal is not None and not (isinstance(goal, (int, float)) and 0 < goal <= 100):
            raise ValueError(f"{where}: goal_fixed must be a percentage in (0, 100] or null, got {self.goal_fixed!r}")
        if self.task.startswith("ps") != (self.permutation_seed is not None):
            raise ValueError(f"{where}: a permutation seed belongs to permuted tasks (psmnist) and only to them")

    def check_available(self) -> None:
        """Raise unless an available model says where it comes from and how to check it (a registry holds
        only such rows; a row being packaged is complete once its archive is written)."""
        if self.status != "available":
            return
        if self.url is None and self.archive is None:
            raise ValueError(f"zoo entry {self.name!r}: an available model needs a url or a shipped archive")
        if self.sha256 is None or self.size is None:
            raise ValueError(f"zoo entry {self.name!r}: an available model needs its sha256 and size")
        if self.short_of_goal() and not self.below_goal:
            raise ValueError(f"zoo entry {self.name!r}: available at {self.accuracies.fixed} % in fixed point, short "
                             f"of its goal of {self.goal_fixed} %, without a below_goal reason")

    def short_of_goal(self) -> bool:
        """True when the model has a goal and its fixed-point accuracy is unmeasured or below it."""
        fixed = self.accuracies.fixed
        return self.goal_fixed is not None and (fixed is None or fixed < self.goal_fixed)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["limits"] = list(self.limits)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ZooEntry":
        where = f"zoo entry {data.get('name')!r}"
        _check_fields(cls, data, where)
        _check_fields(Accuracies, data.get("accuracies", {}), f"{where}, accuracies")
        fields = dict(data)
        fields["accuracies"] = Accuracies(**fields.get("accuracies", {}))
        fields["limits"] = tuple(fields.get("limits", ()))
        if fields.get("loihi2") is not None:
            _check_fields(Loihi2Summary, fields["loihi2"], f"{where}, loihi2")
            fields["loihi2"] = Loihi2Summary.from_report(fields["loihi2"])
        return cls(**fields)


def _check_fields(cls, data: dict, where: str) -> None:
    """Name unknown keys in a registry row (a typo would otherwise be a bare TypeError)."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}")


@dataclass(frozen=True)
class Registry:
    """All entries of one registry file, in file order."""

    path: Path
    entries: tuple[ZooEntry, ...]

    def __post_init__(self) -> None:
        names = [e.name for e in self.entries]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{self.path}: models listed twice: {duplicated}")
        for entry in self.entries:
            entry.check_available()

    @classmethod
    def load(cls, path: str | os.PathLike = REGISTRY_FILE) -> "Registry":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            models = data["models"]
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a valid zoo registry: {err}") from err
        return cls(path, tuple(ZooEntry.from_dict(m) for m in models))

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> ZooEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise UnknownModelError(unknown_name_message(name, self.names))

    def __contains__(self, name: str) -> bool:
        return name in self.names

    @property
    def root(self) -> Path:
        """The folder that archive and card paths are relative to (the registry file's folder)."""
        return self.path.parent

    def archive_path(self, entry: ZooEntry) -> Path | None:
        """The shipped archive of `entry`, when it ships in the repository."""
        return None if entry.archive is None else self.root / entry.archive

    def card_path(self, entry: ZooEntry) -> Path:
        return self.root / MODELS_DIR / entry.name / "card.md"

    def replace(self, entry: ZooEntry) -> "Registry":
        """This registry with `entry` in place of the entry of the same name."""
        self.get(entry.name)
        return Registry(self.path, tuple(entry if e.name == entry.name else e for e in self.entries))

    def save(self) -> None:
        """Rewrite the file atomically (a temporary file beside it, then a rename)."""
        models = [e.to_dict() for e in self.entries]
        text = json.dumps({"models": models}, indent=2, ensure_ascii=False) + "\n"
        write_text_atomic(self.path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to a temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unknown_name_message(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(names)}"
    return f"no model named {name!r} in the zoo; {hint}"


def load_registry(path: str | os.PathLike | None = None) -> Registry:
    """The registry at `path`, else $S4D_ZOO_REGISTRY, else the one shipped with the package."""
    return Registry.load(path or os.environ.get("S4D_ZOO_REGISTRY") or REGISTRY_FILE)
