"""Configuration, reading: the YAML loader, bounded so that no config file can exhaust the
process.

A config file comes from an operator, but also from a template, a generator or a mutated
copy: whatever it holds, loading it ends in a value or in a `yaml.YAMLError` carrying the
line and column, in bounded time and memory.

- Aliases are counted as what they expand to. A billion-laughs document is a few hundred
  bytes of YAML but 10^9 nodes once `${VAR}` interpolation walks it: it is refused when the
  expanded document passes `MAX_NODES`.
- A recursive alias (`&a {x: [*a]}`) is refused where the alias is (it has no finite
  expansion, and the interpolation would recurse until `RecursionError`).
- Nesting deeper than `MAX_DEPTH` is refused before the (recursive) composer can overflow.
- A key must be a plain value: `? [1, 2]: x` is an error, not `TypeError: unhashable`.
- A key given twice in one mapping is an error, and only true/false are booleans.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark

# The bundled config expands to about a thousand nodes and nests six levels deep.
MAX_NODES = 100_000
MAX_DEPTH = 64


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans that refuses what cannot be loaded safely.

    YAML 1.1 reads `on`, `off`, `yes`, `no` as booleans: `on: [probe]` would become
    `True: [probe]` and `mode: off` would become `mode: false`. Only true/false are booleans.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes of the document so far, each alias counted as its expansion
        self._sizes: dict[str, int] = {}  # anchor -> expanded size of its (complete) node

    def compose_document(self) -> Any:
        self._expanded = 0
        self._sizes = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        peek: Callable[[], yaml.Event] = self.peek_event  # untyped in the stubs
        event = peek()
        if isinstance(event, yaml.AliasEvent):
            self._count_alias(event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                _mark(event))
        before = self._expanded
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._add(1, _mark(event))
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._sizes[anchor] = self._expanded - before
        return node

    def _count_alias(self, event: yaml.AliasEvent) -> None:
        mark = _mark(event)
        if event.anchor in self.anchors and event.anchor not in self._sizes:
            raise ComposerError(None, None, f"alias *{event.anchor} refers to a node that "
                                "contains it (a recursive alias)", mark)
        self._add(self._sizes.get(event.anchor or "", 1), mark)

    def _add(self, nodes: int, mark: Mark | None) -> None:
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            raise ComposerError(None, None, f"the document expands to more than {MAX_NODES} "
                                "values (aliases counted as what they repeat)", mark)


def _mark(event: yaml.Event) -> Mark | None:
    """The event's position: SafeLoader's pure-Python parser makes `yaml.error.Mark`s."""
    return cast(Mark | None, event.start_mark)


BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            twice = key in seen
        except TypeError:
            raise ConstructorError(None, None, "a key must be a plain value, not a "
                                   f"{type(key).__name__}", key_node.start_mark) from None
        if twice:
            raise ConstructorError(None, None, f"key {key!r} appears twice",
                                   key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str) -> Any:
    """The first document of `text`; a `yaml.YAMLError` with the position on bad input."""
    return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - a SafeLoader subclass
