"""Reading the settings files through the full YAML parser (ruamel, composed, never constructed)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from visivo.telemetry.policy.optout import Reading
from visivo.telemetry.policy.settings.fast import fast_project_value
from visivo.telemetry.policy.settings.files import load
from visivo.telemetry.policy.settings.keys import (
    BOOL_TAG,
    DEFAULTS_KEY,
    ENDPOINT_KEY,
    GLOBAL_KEY,
    MERGE_TAG,
    NOTICE_KEY,
    NULL_TAG,
    SHORT,
    STR_TAG,
    GlobalSettings,
    Problem,
)

# Exceptions that ruamel's pure-Python parser raises from its internal consistency checks
# (e.g. an ``assert`` in the round-trip comment handling) rather than as a YAMLError.
_PARSER_FAILURES: Final = (AssertionError, AttributeError, IndexError, KeyError, TypeError)


class _NoAliasComposer(Composer):
    """A composer that refuses aliases, so a "billion laughs" file is never expanded."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self.warn_double_anchors = False

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            raise ComposerError(
                None, None, "YAML aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def compose(text: str, *, round_trip: bool = False) -> Node | None:
    """The YAML node tree of a single-document text (None when empty); raises Problem."""
    yaml = YAML(typ="rt") if round_trip else YAML(typ="safe", pure=True)
    yaml.Composer = _NoAliasComposer
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
    return int(node.start_mark.line) + 1


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    shown = value if len(value) <= SHORT else value[:SHORT] + "..."
    return repr(shown) if node.tag == STR_TAG else shown


def lookup(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    """The (key, value) nodes of ``key`` in a mapping; raises Problem when ambiguous."""
    found: tuple[ScalarNode, Node] | None = None
    for key_node, value_node in mapping.value:
        if not isinstance(key_node, ScalarNode):
            continue
        if key_node.tag == MERGE_TAG:
            raise Problem(f"line {node_line(key_node)}: merge keys (<<) are not supported")
        if key_node.tag == STR_TAG and key_node.value == key:
            if found is not None:
                raise Problem(f"line {node_line(key_node)}: duplicate key {key!r}")
            found = (key_node, value_node)
    return found


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def bool_value(node: Node, key: str) -> bool | None:
    """``true``/``false`` as a bool, ``null`` as None; anything else raises Problem."""
    if isinstance(node, ScalarNode):
        if node.tag == NULL_TAG:
            return None
        if node.tag == BOOL_TAG and str(node.value).lower() in ("true", "false"):
            return str(node.value).lower() == "true"
    raise Problem(
        f"line {node_line(node)}: {key} is not a boolean: {describe(node)} (use true or false)"
    )


def root_mapping(root: Node | None) -> MappingNode | None:
    if root is None or is_null(root):
        return None
    if not isinstance(root, MappingNode):
        raise Problem(f"line {node_line(root)}: the top level is {describe(root)}, not a mapping")
    return root


def project_value(root: Node | None) -> bool | None:
    mapping = root_mapping(root)
    if mapping is None:
        return None
    defaults = lookup(mapping, DEFAULTS_KEY)
    if defaults is None or is_null(defaults[1]):
        return None
    if not isinstance(defaults[1], MappingNode):
        node = defaults[1]
        raise Problem(f"line {node_line(node)}: defaults is {describe(node)}, not a mapping")
    entry = lookup(defaults[1], GLOBAL_KEY)
    return None if entry is None else bool_value(entry[1], GLOBAL_KEY)


def read_project(path: Path) -> Reading:
    """What ``defaults.telemetry_enabled`` of a project file says.

    Args:
        path: the project file, usually :func:`project_config_path` of the project dir.

    Returns:
        A Reading; a missing file says nothing, any problem is in ``error``.
    """
    location = str(path)
    try:
        loaded = load(path)
        if loaded is None:
            return Reading(location)
        fast = fast_project_value(loaded.text)
        value = fast[0] if fast is not None else project_value(compose(loaded.text))
    except Problem as problem:
        return Reading(location, error=problem.message, exists=problem.exists)
    return Reading(location, value=value, exists=True)


def read_global(path: Path) -> GlobalSettings:
    """What the global file says about telemetry.

    Args:
        path: the global file, usually :func:`global_config_path` of the home dir.

    Returns:
        GlobalSettings; a missing file says nothing, any problem is in ``reading.error``.
    """
    location = str(path)
    try:
        loaded = load(path)
        if loaded is None:
            return GlobalSettings(Reading(location))
        mapping = root_mapping(compose(loaded.text))
        if mapping is None:
            return GlobalSettings(Reading(location, exists=True))
        entry = lookup(mapping, GLOBAL_KEY)
        value = None if entry is None else bool_value(entry[1], GLOBAL_KEY)
        endpoint_entry = lookup(mapping, ENDPOINT_KEY)
        notice_entry = lookup(mapping, NOTICE_KEY)
    except Problem as problem:
        return GlobalSettings(Reading(location, error=problem.message, exists=problem.exists))
    endpoint: str | None = None
    endpoint_error: str | None = None
    if endpoint_entry is not None and not is_null(endpoint_entry[1]):
        node = endpoint_entry[1]
        if isinstance(node, ScalarNode) and node.tag == STR_TAG:
            endpoint = str(node.value)
        else:
            endpoint_error = (
                f"line {node_line(node)}: {ENDPOINT_KEY} is not a string: {describe(node)}"
            )
    notice_shown = False
    if notice_entry is not None:
        with contextlib.suppress(Problem):
            notice_shown = bool_value(notice_entry[1], NOTICE_KEY) is True
    return GlobalSettings(
        Reading(location, value=value, exists=True),
        endpoint=endpoint,
        endpoint_error=endpoint_error,
        notice_shown=notice_shown,
    )


def reading_from_value(value: object, location: str) -> Reading:
    """A Reading for a setting the host already parsed: a bool, or else an error.

    Args:
        value: what the host found for ``defaults.telemetry_enabled``.
        location: where it came from, as ``status`` should show it.
    """
    if isinstance(value, bool):
        return Reading(location, value=value, exists=True)
    if value is None or isinstance(value, str | int | float):
        shown = repr(value)
        shown = shown if len(shown) <= SHORT else shown[:SHORT] + "..."
    else:
        shown = f"a {type(value).__name__}"
    return Reading(
        location,
        error=f"{GLOBAL_KEY} is not a boolean: {shown} (use true or false)",
        exists=True,
    )
