"""The YAML node tree of a settings file, and the few lookups the readers and editors need.

Documents are composed, never constructed, and an alias stays a leaf naming its anchor
(:class:`AliasLeaf`), so nothing is ever expanded: a "billion laughs" file costs what its
text costs. Only a lookup on the key path follows an alias or a merge key (``<<``), one
node at a time.
"""

from __future__ import annotations

from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from visivo.telemetry.policy.settings.keys import (
    BOOL_TAG,
    MERGE_TAG,
    NULL_TAG,
    SHORT,
    STR_TAG,
    Found,
    Problem,
    combine,
    is_enabled_key,
)

ALIAS_TAG: Final = "tag:visivo.io,2026:alias"  # an unexpanded ``*name``

# Exceptions that ruamel's pure-Python parser raises from its internal consistency checks
# (e.g. an ``assert`` in the round-trip comment handling) rather than as a YAMLError.
_PARSER_FAILURES: Final = (AssertionError, AttributeError, IndexError, KeyError, TypeError)

Pair = tuple[ScalarNode, Node]


class AliasLeaf(ScalarNode):
    """``*name`` as a leaf: its value is the anchor name, ``target`` the anchored node."""

    __slots__ = ("target",)

    def __init__(self, name: str, target: Node | None, start_mark: Any, end_mark: Any) -> None:
        super().__init__(ALIAS_TAG, name, start_mark, end_mark)
        self.target = target  # None when the anchor is not defined before the alias


class _AliasLeafComposer(Composer):
    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self.warn_double_anchors = False

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.get_event()
            target = self.anchors.get(event.anchor)
            return AliasLeaf(event.anchor, target, event.start_mark, event.end_mark)
        return super().compose_node(parent, index)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def compose(text: str, *, round_trip: bool = False) -> Node | None:
    """The YAML node tree of a single-document text (None when empty); raises Problem."""
    yaml = YAML(typ="rt") if round_trip else YAML(typ="safe", pure=True)
    yaml.Composer = _AliasLeafComposer
    try:
        node: Node | None = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        where = f"line {mark.line + 1}: " if mark is not None else ""
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and context is not mark:
            problem += f" ({_one_line(exc.context)} on line {context.line + 1})"
        raise Problem(f"{where}invalid YAML: {problem}") from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise Problem(f"line {line}: character #x{exc.character:04x} is not allowed") from None
    except YAMLError as exc:  # any other parser complaint is still just a bad file
        raise Problem(f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise Problem("invalid YAML: nested too deeply") from None
    except _PARSER_FAILURES as exc:  # the parser's own checks, reachable from odd input
        raise Problem(f"invalid YAML: the YAML parser failed ({type(exc).__name__})") from None
    return node


def node_line(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def describe(node: Node) -> str:
    """A node in a few words for an error message."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, AliasLeaf):
        return f"an alias (*{node.value})"
    value = str(node.value)
    if node.tag == NULL_TAG:
        return "null" if value in ("", "~") else value
    shown = value if len(value) <= SHORT else value[:SHORT] + "..."
    return repr(shown) if node.tag == STR_TAG else shown


def is_null(node: Node) -> bool:
    """Whether a node is YAML null (``null``, ``~`` or nothing)."""
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def root_mapping(root: Node | None) -> MappingNode | None:
    """The top-level mapping, None for an empty document; raises Problem for anything else."""
    if root is None or is_null(root):
        return None
    if not isinstance(root, MappingNode):
        raise Problem(f"line {node_line(root)}: the top level is {describe(root)}, not a mapping")
    return root


def lookup(mapping: MappingNode, key: str) -> Pair | None:
    """The (key, value) nodes written for ``key`` in a mapping (merges not followed)."""
    return find(own_pairs(mapping), key)


def own_pairs(mapping: MappingNode) -> list[Pair]:
    """The entries written in a mapping with a string key (merge keys left out)."""
    return [
        (key, value)
        for key, value in mapping.value
        if isinstance(key, ScalarNode) and key.tag == STR_TAG
    ]


def find(pairs: list[Pair], key: str) -> Pair | None:
    """The entry for ``key``; raises Problem when it is written twice."""
    found: Pair | None = None
    for pair in pairs:
        if pair[0].value == key:
            if found is not None:
                raise Problem(f"line {node_line(pair[0])}: duplicate key {key!r}")
            found = pair
    return found


def resolve(node: Node) -> Node:
    """The node itself, or the anchored node an alias names; raises Problem if undefined."""
    if not isinstance(node, AliasLeaf):
        return node
    if node.target is None:
        raise Problem(f"line {node_line(node)}: alias *{node.value} is not defined before it")
    return node.target


def pairs(mapping: MappingNode) -> list[Pair]:
    """A mapping's entries with its merge keys applied: written keys win, then earlier merges.

    Each merged mapping is visited once, so merges of merges cost at most the file's size.
    """
    result = own_pairs(mapping)
    names = {key.value for key, _ in result}
    visited = {id(mapping)}
    queue = _merge_sources(mapping)
    while queue:
        source = queue.pop(0)
        if id(source) in visited:
            continue
        visited.add(id(source))
        for key, value in own_pairs(source):
            if key.value not in names:
                names.add(key.value)
                result.append((key, value))
        queue[:0] = _merge_sources(source)  # a merged mapping's own merges come next
    return result


def _merge_sources(mapping: MappingNode) -> list[MappingNode]:
    sources: list[MappingNode] = []
    for key, value in mapping.value:
        if not (isinstance(key, ScalarNode) and key.tag == MERGE_TAG):
            continue
        for item in value.value if isinstance(value, SequenceNode) else [value]:
            target = resolve(item)
            if not isinstance(target, MappingNode):
                raise Problem(
                    f"line {node_line(item)}: a merge key (<<) takes mappings, "
                    f"not {describe(target)}"
                )
            sources.append(target)
    return sources


def bool_value(node: Node, key: ScalarNode) -> bool:
    """``true``/``false`` (through one alias) as a bool; anything else raises Problem."""
    target = resolve(node)
    if (
        isinstance(target, ScalarNode)
        and target.tag == BOOL_TAG
        and str(target.value).lower() in ("true", "false")
    ):
        return str(target.value).lower() == "true"
    raise Problem(
        f"line {node_line(key)}: {key.value} is not a boolean: {describe(target)} "
        "(use true or false)"
    )


def flag(entries: list[Pair]) -> Found:
    """What a mapping's entries say through ``telemetry_enabled`` or a near spelling of it."""
    written: list[tuple[str, bool]] = []
    for key, value in entries:
        spelling = str(key.value)
        if is_enabled_key(spelling):
            if any(spelling == seen for seen, _ in written):
                raise Problem(f"line {node_line(key)}: duplicate key {spelling!r}")
            written.append((spelling, bool_value(value, key)))
    return combine(written)
