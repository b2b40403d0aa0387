"""Reading the settings files: the public readers, the fast path first for a project file."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from visivo.telemetry.policy.optout import Reading
from visivo.telemetry.policy.settings.fast import GaveUp, fast_project_value
from visivo.telemetry.policy.settings.files import Loaded, NotUtf8, load
from visivo.telemetry.policy.settings.keys import (
    DEFAULTS_KEY,
    ENDPOINT_KEY,
    FULL_PARSE_MAX_BYTES,
    GLOBAL_KEY,
    NOTICE_KEY,
    SHORT,
    STR_TAG,
    Found,
    GlobalSettings,
    Problem,
    may_mention_key,
)
from visivo.telemetry.policy.settings.nodes import (
    bool_value,
    compose,
    describe,
    find,
    flag,
    is_null,
    node_line,
    pairs,
    resolve,
    root_mapping,
)


def project_value(root: Node | None) -> Found:
    """What ``defaults.telemetry_enabled`` (or a near spelling) says in a composed project."""
    mapping = root_mapping(root)
    if mapping is None:
        return Found(None)
    defaults = find(pairs(mapping), DEFAULTS_KEY)
    if defaults is None:
        return Found(None)
    node = resolve(defaults[1])
    if is_null(node):
        return Found(None)
    if not isinstance(node, MappingNode):
        raise Problem(f"line {node_line(defaults[1])}: defaults is {describe(node)}, not a mapping")
    return flag(pairs(node))


def _project_found(loaded: Loaded) -> Found:
    fast = fast_project_value(loaded.text)
    if not isinstance(fast, GaveUp):
        return fast
    if loaded.size > FULL_PARSE_MAX_BYTES:
        # ruamel would need seconds for it, on the thread of the command that is starting.
        raise Problem(
            f"line {fast.line}: the quick reader cannot follow this line, and the file is "
            f"over {FULL_PARSE_MAX_BYTES // 1024} KiB, too large to parse in full at start-up"
        )
    return project_value(compose(loaded.text))


def read_project(path: Path) -> Reading:
    """What ``defaults.telemetry_enabled`` of a project file says.

    A file whose text never mentions ``telemetry_enabled`` (nor a near spelling) says
    nothing, even when it does not parse: it cannot be opting out, and the host reports
    its own parse errors. A file that mentions it and cannot be read opts out.

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
        if not may_mention_key(loaded.text):
            return Reading(location, exists=True)
        found = _project_found(loaded)
    except NotUtf8 as problem:
        if not may_mention_key(problem.text):
            return Reading(location, exists=True)
        return Reading(location, error=problem.message, exists=True)
    except Problem as problem:
        return Reading(location, error=problem.message, exists=problem.exists)
    return Reading(location, value=found.value, exists=True, note=found.note)


def read_global(path: Path) -> GlobalSettings:
    """What the global file says about telemetry; any problem in it opts out.

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
        entries = pairs(mapping)
        found = flag(entries)
        endpoint_entry = find(entries, ENDPOINT_KEY)
        notice_entry = find(entries, NOTICE_KEY)
    except Problem as problem:
        return GlobalSettings(Reading(location, error=problem.message, exists=problem.exists))
    endpoint: str | None = None
    endpoint_error: str | None = None
    if endpoint_entry is not None:
        try:
            node = resolve(endpoint_entry[1])
        except Problem as problem:
            endpoint_error = problem.message
        else:
            if isinstance(node, ScalarNode) and node.tag == STR_TAG:
                endpoint = str(node.value)
            elif not is_null(node):
                line = node_line(endpoint_entry[1])
                endpoint_error = f"line {line}: {ENDPOINT_KEY} is not a string: {describe(node)}"
    notice_shown = False
    if notice_entry is not None:
        with contextlib.suppress(Problem):
            notice_shown = bool_value(notice_entry[1], notice_entry[0])
    return GlobalSettings(
        Reading(location, value=found.value, exists=True, note=found.note),
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
