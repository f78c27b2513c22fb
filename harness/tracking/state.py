"""A sweep's own record of where it stands, in its run folder (`sweep_state.json`).

Written atomically after every change, so it is true whatever stops the harness. `--resume`
reads it to continue the latest unfinished sweep of a spec: variants that finished (passed or
failed on their own) are kept, interrupted or never-started ones run again in the same folder,
and their stale MLflow runs are closed as superseded. `harness sync` reads it to find the
variants whose results never reached MLflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import SpecError
from harness.spec.model import ExperimentSpec

STATE_FILE = "sweep_state.json"
FINISHED = ("ok", "failed")
"""Variant statuses a resume keeps; "running" and "interrupted" run again."""


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
        assert self.path is not None
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def mark(self, name: str, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.variants[name], key, value)
        self.save()

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
