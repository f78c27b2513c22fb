"""Read spec YAML safely: any bytes in, a mapping or one clear SpecError out.

Guards against what a plain `yaml.safe_load` lets through: duplicate keys (the last silently
wins), alias bombs (a few hundred bytes that expand to billions of nodes once a consumer walks
them), pathological nesting (a RecursionError traceback), binary or non-UTF-8 files and NUL
bytes. The expanded size is measured on the composed node graph with memoisation, so a bomb
is rejected in microseconds, before anything is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from harness.errors import SpecError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
"""Nodes after alias expansion: far above any real spec, far below a memory problem."""
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}", key_node.start_mark) from None
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (the earlier value would be lost silently; keep one)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node) -> int:
    """Nodes the document expands to (aliases counted in full), stopping early past MAX_NODES or MAX_DEPTH."""
    sizes: dict[int, int] = {}

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise SpecError([f"nested more than {MAX_DEPTH} levels deep; a spec needs a handful"])
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_NODES + 1  # a cycle (recursive alias) counts as too large
        total = 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_NODES:
                break
        sizes[id(node)] = total
        return total

    return size(root, 0)


def _decode(raw: bytes, where: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SpecError([f"{where}: not a UTF-8 (or UTF-16 with BOM) text file (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save the spec as UTF-8"]) from None
    if "\x00" in text:
        raise SpecError([f"{where}: contains NUL bytes; a spec is a YAML text file"])
    return text


def parse_yaml(text: str, where: str, lenient: bool = False) -> Any:
    """One YAML document, guarded; SpecError naming `where` on any problem (`lenient`: text that is not YAML stays text)."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node) > MAX_NODES:
                raise SpecError([f"{where}: expands to more than {MAX_NODES} nodes (YAML aliases nested into a 'billion laughs'?); "
                                 "write the values out or use fewer nested aliases"])
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except SpecError:
        raise
    except yaml.YAMLError as exc:
        if lenient:
            return text
        raise SpecError([f"{where}: not valid YAML: {exc}"]) from None
    except RecursionError:
        raise SpecError([f"{where}: nested too deeply to parse; a spec needs a handful of levels"]) from None


def read_yaml_file(path: str | Path) -> Any:
    """Read and parse a spec file; SpecError for a missing path, a folder, an unreadable or oversized file."""
    p = Path(path)
    if p.is_dir():
        raise SpecError([f"'{p}' is a folder, not a spec file; pass the path of a YAML spec inside it, e.g. {p / 'spec.yaml'}"])
    if not p.is_file():
        raise SpecError([f"spec file '{p}' does not exist; pass the path of a YAML spec, e.g. examples/local-smoke.yaml"])
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError([f"{p}: cannot be read ({exc.strerror or exc})"]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError([f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MiB; a spec is a small YAML file"])
    return parse_yaml(_decode(raw, str(p)), str(p))
