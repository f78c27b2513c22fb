"""Progress on a terminal with rich: a bar for the variants and one per running stage, lines above them.

`harness run` uses it when stderr is a terminal (`HARNESS_PROGRESS=plain` turns it off); elsewhere (CI logs,
pipes) the plain `Presenter` prints a line every 10 s. Same events, same words: the bars only add what the lines
cannot (done of total, elapsed) and refresh every second.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.pipeline.presenter import Presenter

if TYPE_CHECKING:
    from harness.outcome import VariantOutcome
    from harness.spec.model import ResolvedVariant
    from harness.stage import Progress


def wants_live(stream: Any = None) -> bool:
    """A terminal, and not turned off by HARNESS_PROGRESS=plain."""
    stream = stream or sys.stderr
    return os.environ.get("HARNESS_PROGRESS", "auto") != "plain" and bool(getattr(stream, "isatty", lambda: False)())


class LivePresenter(Presenter):
    """The plain presenter's lines, printed above rich progress bars (variants done; each stage's done of total)."""

    every_s = 1.0

    def __init__(self, console: Any = None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        super().__init__(write=self._print)
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=self.console)
        self._sweep: Any = None
        self._stages: dict[str, Any] = {}

    def _print(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def sweep_started(self, name: str, n_variants: int, folder: object, uri: str, experiment: str) -> None:
        super().sweep_started(name, n_variants, folder, uri, experiment)
        self.bars.start()
        self._sweep = self.bars.add_task("variants", total=n_variants, detail="")

    def variant_started(self, i: int, n: int, variant: "ResolvedVariant") -> None:
        super().variant_started(i, n, variant)
        if self._sweep is not None:
            self.bars.update(self._sweep, total=n, completed=i - 1, detail=variant.name)

    def progress(self, items: Sequence["Progress"]) -> None:
        for p in items:
            task = self._stages.get(p.stage)
            if task is None:
                task = self._stages[p.stage] = self.bars.add_task(f"  {p.stage}", total=p.total, detail="")
            unit = p.unit.strip()
            self.bars.update(task, completed=p.done, total=p.total, detail=f"{unit}{', ' + p.detail if p.detail else ''}")

    def variant_done(self, i: int, n: int, outcome: "VariantOutcome", run_id: str | None) -> None:
        super().variant_done(i, n, outcome, run_id)
        for task in self._stages.values():
            self.bars.remove_task(task)
        self._stages.clear()
        if self._sweep is not None:
            self.bars.update(self._sweep, completed=i)

    def close(self) -> None:
        """Stop the live display (the bars stay printed as they were last)."""
        self.bars.stop()
