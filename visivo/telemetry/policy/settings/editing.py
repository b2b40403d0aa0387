"""Editing the settings files: one value changed or one entry added, verified, then written."""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import attrs
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from visivo.telemetry.policy.settings.files import load, make_private_dir, write_atomic
from visivo.telemetry.policy.settings.keys import (
    BOOL_TAG,
    DEFAULTS_KEY,
    GLOBAL_KEY,
    NOTICE_KEY,
    STR_TAG,
    Problem,
    SettingsError,
)
from visivo.telemetry.policy.settings.nodes import (
    bool_value,
    compose,
    describe,
    is_null,
    lookup,
    node_line,
    root_mapping,
)


def set_global_enabled(path: Path, enabled: bool) -> None:
    """Set ``telemetry_enabled`` in the global file, creating it (and its folder) if needed.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (GLOBAL_KEY,), enabled, home_file=True)


def set_project_enabled(path: Path, enabled: bool) -> None:
    """Set ``defaults.telemetry_enabled`` in a project file, creating what is missing.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (DEFAULTS_KEY, GLOBAL_KEY), enabled, home_file=False)


def mark_notice_shown(path: Path) -> None:
    """Record in the global file that the first-run notice was shown.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (NOTICE_KEY,), True, home_file=True)


@attrs.frozen
class _Change:
    start: int
    end: int
    new: str


_Shape = tuple[Any, ...] | None


def _shape(node: Node | None) -> _Shape:
    """The document's meaning, without formatting, for comparing before and after."""
    if node is None:
        return None
    anchor = node.anchor  # an edit must never drop one: aliases elsewhere name it
    if isinstance(node, ScalarNode):
        return ("scalar", str(node.tag), str(node.value), anchor)
    if isinstance(node, SequenceNode):
        return ("seq", tuple(_shape(item) for item in node.value), anchor)
    return ("map", tuple((_shape(k), _shape(v)) for k, v in node.value), anchor)


def _with_value(shape: _Shape, keys: tuple[str, ...], word: str) -> _Shape:
    pairs: list[Any] = []
    anchor = None
    if shape is not None and shape[0] == "map":
        pairs, anchor = list(shape[1]), shape[2]
    for index, (key, value) in enumerate(pairs):
        if key[:3] == ("scalar", STR_TAG, keys[0]):
            new = ("scalar", BOOL_TAG, word, None) if len(keys) == 1 else None
            pairs[index] = (key, new or _with_value(value, keys[1:], word))
            return ("map", tuple(pairs), anchor)
    key_shape = ("scalar", STR_TAG, keys[0], None)
    if len(keys) == 1:
        pairs.append((key_shape, ("scalar", BOOL_TAG, word, None)))
    else:
        pairs.append((key_shape, _with_value(None, keys[1:], word)))
    return ("map", tuple(pairs), anchor)


def _content_end(text: str, node: Node) -> int:
    """The index just after the last character that belongs to a node's own text."""
    if isinstance(node, ScalarNode):
        end = int(node.end_mark.index)
        start = int(node.start_mark.index)
        while end > start and text[end - 1] in " \r\n":
            end -= 1
        return end
    if _is_flow(node) or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    if isinstance(node, MappingNode):
        key, value = last
        if _is_empty(value):
            return _content_end(text, key)
        return _content_end(text, value)
    return _content_end(text, last)


def _is_flow(node: Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def _is_empty(node: Node) -> bool:
    return is_null(node) and node.value == ""


def _after_line(text: str, index: int) -> int:
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _colon_after(text: str, key: Node) -> int:
    colon = text.find(":", int(key.end_mark.index))
    if colon < 0:
        raise Problem(f"line {node_line(key)}: cannot find the ':' after the key")
    return colon


def _indent_unit(node: Node | None) -> int:
    """The indentation step used by the file's nested block mappings (2 if none)."""
    if isinstance(node, MappingNode) and not node.flow_style:
        for key, value in node.value:
            if isinstance(value, MappingNode) and not value.flow_style and value.value:
                step = int(value.value[0][0].start_mark.column) - int(key.start_mark.column)
                if step > 0:
                    return step
            inner = _indent_unit(value)
            if inner != 2:
                return inner
    if isinstance(node, SequenceNode):
        for item in node.value:
            inner = _indent_unit(item)
            if inner != 2:
                return inner
    return 2


def _entry_lines(keys: tuple[str, ...], word: str, unit: int) -> list[str]:
    """The lines of a new ``a:\\n  b: word`` entry, relative to the mapping's column."""
    lines = [f"{' ' * (unit * depth)}{key}:" for depth, key in enumerate(keys[:-1])]
    lines.append(f"{' ' * (unit * (len(keys) - 1))}{keys[-1]}: {word}")
    return lines


def _append_block(text: str, at: int, col: int, lines: list[str], newline: str) -> _Change:
    body = newline.join(" " * col + line for line in lines)
    if at == len(text) and text and not text.endswith("\n"):
        return _Change(at, at, newline + body)  # keep the file's missing final newline
    return _Change(at, at, body + newline)


def _flow_entry(keys: tuple[str, ...], word: str) -> str:
    entry = f"{keys[-1]}: {word}"
    for key in reversed(keys[:-1]):
        entry = f"{key}: {{{entry}}}"
    return entry


def _insert(
    text: str, mapping: MappingNode, *, keys: tuple[str, ...], word: str, unit: int, newline: str
) -> _Change:
    """A change adding ``keys`` (nested) with ``word`` at the end of a mapping."""
    if mapping.flow_style:
        close = int(mapping.end_mark.index) - 1
        before = close
        while before > 0 and text[before - 1] in " \r\n":
            before -= 1
        entry = _flow_entry(keys, word)
        if text[before - 1] in "{,":
            return _Change(before, before, (" " if text[before - 1] == "," else "") + entry)
        return _Change(before, before, ", " + entry)
    col = int(mapping.value[0][0].start_mark.column)
    at = _after_line(text, _content_end(text, mapping))
    return _append_block(text, at, col, _entry_lines(keys, word, unit), newline)


def _plan(
    text: str, mapping: MappingNode, *, keys: tuple[str, ...], word: str, unit: int, newline: str
) -> _Change:
    entry = lookup(mapping, keys[0])
    if entry is None:
        return _insert(text, mapping, keys=keys, word=word, unit=unit, newline=newline)
    key, value = entry
    if len(keys) == 1:
        if _is_empty(value):
            colon = _colon_after(text, key)
            return _Change(colon + 1, colon + 1, " " + word)
        if isinstance(value, ScalarNode) or _is_flow(value):
            return _Change(int(value.start_mark.index), _content_end(text, value), word)
        colon = _colon_after(text, key)
        return _Change(colon + 1, _content_end(text, value), " " + word)
    if _is_empty(value):
        col = int(key.start_mark.column) + unit
        at = _after_line(text, _colon_after(text, key))
        return _append_block(text, at, col, _entry_lines(keys[1:], word, unit), newline)
    if is_null(value):
        new = "{" + _flow_entry(keys[1:], word) + "}"
        return _Change(int(value.start_mark.index), _content_end(text, value), new)
    if not isinstance(value, MappingNode):
        raise Problem(f"line {node_line(value)}: {keys[0]} is {describe(value)}, not a mapping")
    return _plan(text, value, keys=keys[1:], word=word, unit=unit, newline=newline)


def _edited(text: str, keys: tuple[str, ...], enabled: bool) -> str:
    """The text with ``keys`` set to ``enabled``, verified; raises Problem."""
    word = "true" if enabled else "false"
    newline = "\r\n" if "\r\n" in text else "\n"
    root = compose(text, round_trip=True)
    mapping = root_mapping(root)
    if mapping is None:
        lines = _entry_lines(keys, word, 2)
        change = _append_block(text, len(text), 0, lines, newline)
    else:
        if _current(mapping, keys) is enabled:
            return text  # already so: leave the file alone
        unit = _indent_unit(mapping)
        change = _plan(text, mapping, keys=keys, word=word, unit=unit, newline=newline)
    new_text = text[: change.start] + change.new + text[change.end :]
    # Verify: every line outside the changed ones is untouched, the result parses, and it
    # means exactly the old document with the key set.
    first = text.rfind("\n", 0, change.start) + 1
    last = _after_line(text, change.end) if change.end > change.start else change.end
    tail = text[last:]
    if not (new_text.startswith(text[:first]) and new_text.endswith(tail)):
        raise Problem("the edit would change other lines")
    try:
        new_root = compose(new_text, round_trip=True)
    except Problem as problem:
        raise Problem(f"the edited file would not parse ({problem.message})") from None
    if _shape(new_root) != _with_value(_shape(mapping), keys, word):
        raise Problem("the edit could not be done without changing other content")
    return new_text


def _current(mapping: MappingNode, keys: tuple[str, ...]) -> bool | None:
    """The boolean now at ``keys``, None when absent or not a boolean."""
    entry = lookup(mapping, keys[0])
    if entry is None:
        return None
    if len(keys) > 1:
        return _current(entry[1], keys[1:]) if isinstance(entry[1], MappingNode) else None
    try:
        return bool_value(entry[1], entry[0])
    except Problem:
        return None


def _edit(path: Path, keys: tuple[str, ...], enabled: bool, *, home_file: bool) -> None:
    """Set ``keys`` in the file at ``path``.

    ``home_file``: the user's own file under the home directory, whose folder is created
    private and whose symlink (dotfiles) is followed. Otherwise the file is a project's,
    possibly from a cloned repository, and a symlink is refused so that no edit lands
    outside the project.
    """
    if path.is_symlink() and not home_file:
        raise SettingsError(
            f"{path}: is a symbolic link; a project file is edited only in place (file not changed)"
        )
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        loaded = load(target)
        text = "" if loaded is None else loaded.text
        new_text = _edited(text, keys, enabled)
    except Problem as problem:
        raise SettingsError(f"{path}: {problem.message} (file not changed)") from None
    if loaded is not None and new_text == text:
        return
    if loaded is None and home_file:
        make_private_dir(target.parent, path)
    data = new_text.encode("utf-8")
    if loaded is not None and loaded.bom:
        data = codecs.BOM_UTF8 + data
    write_atomic(target, data, None if loaded is None else loaded.mode, path)
