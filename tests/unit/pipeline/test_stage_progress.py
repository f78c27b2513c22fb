"""A stage that ends between two progress polls still shows its final figures (CI once saw "booting lm-eval" stay)."""

from __future__ import annotations

from harness.pipeline.presenter import Presenter
from harness.pipeline.variant import _Measurement
from harness.server.endpoint import Endpoint
from harness.server.launch import RunningServer
from harness.stage import Progress


class _Stage:
    def __init__(self, name: str, polls: int):
        self.name, self.polls, self.asked = name, polls, 0

    def running(self) -> bool:
        self.polls -= 1
        return self.polls > 0

    def progress(self) -> Progress:
        self.asked += 1
        done = self.polls <= 0
        return Progress(self.name, 3 if done else 0, 3, " requests", "" if done else "booting")


def test_a_stage_that_ends_between_polls_shows_its_final_figures_once():
    lines: list[str] = []
    presenter = Presenter(write=lines.append)
    presenter.every_s = 3600.0  # no periodic line: only the end-of-stage ones
    running = RunningServer(endpoint=Endpoint(base_url="http://127.0.0.1:1", model="m"), model=None)
    m = _Measurement(None, running, None, presenter)  # type: ignore[arg-type]
    quick, slow = _Stage("quality", 1), _Stage("load", 4)
    m._watch([quick, slow], "test")
    assert [line for line in lines if "quality" in line] == ["quality 3/3 requests"]
    assert [line for line in lines if "load" in line] == ["load 3/3 requests"]
    assert quick.asked == 1 and slow.asked == 1
