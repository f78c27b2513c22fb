"""The rich presenter: variants done of total and each stage's done of total, with the plain lines above them."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from harness.cli.live import LivePresenter, wants_live
from harness.stage import Progress


def test_bars_show_variants_and_stage_counts():
    out = io.StringIO()
    live = LivePresenter(Console(file=out, force_terminal=True, width=140, color_system=None))
    live.sweep_started("s", 2, "/tmp/x", "sqlite:///x.db", "s")
    live.variant_started(1, 2, SimpleNamespace(name="parallel-1", server=SimpleNamespace(kind="llamacpp")))
    live.progress([Progress("load", 12, 23, "s", "41 requests"), Progress("quality", 3, 8, " requests", "20s")])
    live.bars.refresh()
    live.say("load: 41 requests, 0 errors")
    live.variant_done(1, 2, SimpleNamespace(variant=SimpleNamespace(name="parallel-1"), failed=False, failures=[], duration_s=30.0), "abc")
    live.bars.refresh()
    live.close()
    text = out.getvalue()
    assert "sweep 's': 2 variant(s)" in text and "[1/2] parallel-1: ok (30s, MLflow run abc)" in text
    assert "  parallel-1: load: 41 requests, 0 errors" in text
    assert "12/23" in text and "3/8" in text and "requests, 20s" in text  # the stages' done of total
    assert "1/2" in text and "variants" in text


def test_live_only_on_a_terminal_and_not_when_turned_off(monkeypatch):
    tty = SimpleNamespace(isatty=lambda: True)
    assert not wants_live(io.StringIO())
    monkeypatch.setenv("HARNESS_PROGRESS", "auto")
    assert wants_live(tty)
    monkeypatch.setenv("HARNESS_PROGRESS", "plain")
    assert not wants_live(tty)
