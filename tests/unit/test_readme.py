"""The README is the contract: short enough to read in five minutes, its spec valid, every page it points to there."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_the_readme_is_short_and_indexes_the_docs():
    assert len(README.splitlines()) <= 150
    linked = set(re.findall(r"\]\(((?:docs|evals|benchmarks)/[^)#]+)\)", README))
    assert {"docs/reliability.md", "docs/statistics.md", "docs/tracking.md", "docs/webui.md", "docs/vllm.md",
            "docs/spec-reference.md", "docs/status.md"} <= linked
    assert [p for p in sorted(linked) if not (REPO / p).exists()] == []
    every_doc = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert sorted(every_doc - linked) == []  # no page of docs/ that the index forgets


def test_the_readme_spec_validates(tmp_path):
    block = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)
    assert yaml.safe_load(block)["name"]
    path = tmp_path / "spec.yaml"
    path.write_text(block)
    spec = load_spec(path)
    assert [v.name for v in spec.variants] == ["parallel-1", "parallel-4"]
    assert spec.load.max_error_rate == 0.05 and spec.repeats.count == 5


def test_the_docs_pages_link_to_pages_that_exist():
    for page in sorted((REPO / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
