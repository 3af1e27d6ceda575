"""campaign.yaml's reader: PyYAML's safe loader, refusing duplicate keys and deep nesting.

PyYAML keeps the last of two equal keys without a word, and its composer recurses once
per nesting level, so a deeply nested document ends in a RecursionError traceback.
Both are definition errors here, naming the key (or the depth) and the line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from campaigns.exceptions import YamlShapeError

MAX_DEPTH = 32  # a campaign definition nests five levels; anything near this is not one
MAX_YAML_CHARS = 1_000_000


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses a repeated mapping key and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlShapeError(
                    f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep"
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise YamlShapeError(f"line {line}: duplicate key {key!r} (first at line {first})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def safe_load(text: str) -> Any:
    """yaml.safe_load with the checks above; raises YamlShapeError or yaml.YAMLError."""
    if len(text) > MAX_YAML_CHARS:
        raise YamlShapeError(f"{len(text)} characters, over the limit of {MAX_YAML_CHARS}")
    loader = StrictSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
