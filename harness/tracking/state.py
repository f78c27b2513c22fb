"""A sweep's own record of where it stands, in its run folder (`sweep_state.json`).

Written atomically after every change, so it is true whatever stops the harness (a write that fails,
a full disk, leaves the last good file and no `sweep_state.tmp`: the variant being recorded fails
with one line, its MLflow run is closed FAILED, and the sweep goes on). `--resume`
reads it to continue the latest unfinished sweep of a spec: variants that finished (passed or
failed on their own) are kept, interrupted or never-started ones run again in the same folder,
and their stale MLflow runs are closed as superseded. `harness sync` reads it to find the
variants whose results never reached MLflow.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import Failure, RunFolderError, SpecError
from harness.spec.model import ExperimentSpec

if TYPE_CHECKING:
    from harness.outcome import VariantOutcome

STATE_FILE = "sweep_state.json"
FINISHED = ("ok", "failed")
"""Variant statuses a resume keeps; "running" and "interrupted" run again."""


def write_atomically(path: Path, text: str) -> None:
    """`path` holds `text` or what it held before, never a torn file; no `<name>.tmp` is left behind. OSError as raised."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_run_file(path: Path, text: str) -> None:
    """One of the sweep's own files (sweep_state.json, experiment.yaml), atomically; RunFolderError (one line) when the
    disk refuses it."""
    try:
        write_atomically(path, text)
    except OSError as exc:
        code = f" ({errno.errorcode[exc.errno]})" if exc.errno in errno.errorcode else ""
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}{code}; free space in tracking.run_dir (or point it "
                             "elsewhere), then `harness run SPEC --resume`") from None


def spec_fingerprint(spec: ExperimentSpec) -> str:
    """What must not change between a sweep and its resume (everything but where results go)."""
    data = spec.model_dump(mode="json", exclude={"tracking"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class VariantState:
    status: str = "pending"
    """pending | running | ok | failed | interrupted"""
    run_id: str | None = None
    """Its MLflow run, once one was created."""
    logged: bool = False
    """Its results reached MLflow (False: `harness sync` logs them from the folder)."""


@dataclass
class SweepState:
    name: str
    fingerprint: str
    parent_run_id: str | None = None
    experiment: str | None = None
    finished: bool = False
    variants: dict[str, VariantState] = field(default_factory=dict)
    path: Path | None = field(default=None, repr=False, compare=False)
    write_failures: int = field(default=0, repr=False, compare=False)
    """Saves that failed in this process (not written to the file)."""

    @classmethod
    def new(cls, folder: Path, spec: ExperimentSpec, names: list[str]) -> "SweepState":
        state = cls(spec.name, spec_fingerprint(spec), variants={n: VariantState() for n in names}, path=folder / STATE_FILE)
        state.save()
        return state

    @classmethod
    def read(cls, folder: Path) -> "SweepState":
        path = folder / STATE_FILE
        try:
            data = json.loads(path.read_text())
            variants = {k: VariantState(**v) for k, v in data.pop("variants").items()}
            return cls(**data, variants=variants, path=path)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise SpecError([f"{path}: not a readable sweep state ({exc}); is this a harness run folder?"]) from None

    def save(self) -> None:
        """RunFolderError when the file cannot be written (the last good one stays)."""
        assert self.path is not None
        data = {k: v for k, v in asdict(self).items() if k not in ("path", "write_failures")}
        try:
            write_run_file(self.path, json.dumps(data, indent=1))
        except RunFolderError:
            self.write_failures += 1
            raise

    def mark(self, name: str, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.variants[name], key, value)
        self.save()

    def record(self, name: str, outcome: "VariantOutcome", **changes: object) -> None:
        """`mark`, for a variant being measured: a state file that cannot be written fails the variant (`outcome`, once)
        instead of the sweep, and leaves it "interrupted", so a `--resume` measures it again once the disk has room."""
        try:
            self.mark(name, **changes)
        except RunFolderError as exc:
            self.variants[name].status = "interrupted"
            if not any(f.message == str(exc) for f in outcome.failures):
                outcome.failures.append(Failure.of("harness", exc))

    def to_run(self, names: list[str]) -> list[str]:
        """The variants a resume runs again."""
        return [n for n in names if self.variants.get(n, VariantState()).status not in FINISHED]


def latest_resumable(run_dir: Path, spec: ExperimentSpec) -> Path:
    """The newest unfinished sweep folder of this spec under `run_dir`; SpecError when there is none or the spec changed."""
    candidates = sorted((p for p in run_dir.glob(f"{spec.name}-*") if (p / STATE_FILE).is_file()),
                        key=lambda p: (p / STATE_FILE).stat().st_mtime, reverse=True)
    for folder in candidates:
        state = SweepState.read(folder)
        if state.finished:
            continue
        if state.fingerprint != spec_fingerprint(spec):
            raise SpecError([f"--resume: the spec changed since the unfinished sweep in {folder}; "
                             "run without --resume to start a new sweep (or restore the spec)"])
        return folder
    raise SpecError([f"--resume: no unfinished sweep of '{spec.name}' under {run_dir}; run without --resume"])


def new_run_folder(run_dir: Path, name: str, setting: str = "tracking.run_dir") -> Path:
    """<run_dir>/<name>-<time>-<random>: two sweeps started in the same second never share a folder. `setting` names
    where `run_dir` came from, for the error."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SpecError([f"{setting}: '{run_dir}' is a file, not a folder; point it at a folder (default: runs)"])
    for _ in range(5):
        folder = run_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise SpecError([f"{setting}: cannot create '{folder}': {exc.strerror or exc}"]) from None
    raise SpecError([f"{setting}: could not create a fresh folder under '{run_dir}'"])
