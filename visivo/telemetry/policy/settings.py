"""Read and edit the telemetry settings in Visivo's YAML files: the only module doing file I/O.

Two files matter. The global file, ``~/.visivo/config.yml``, holds ``telemetry_enabled``,
``telemetry_endpoint`` and ``telemetry_notice_shown`` at the top level. The project file,
``project.visivo.yml``, can only opt out, through ``defaults.telemetry_enabled``.

Reading never raises for bad user input: every problem becomes a one-line ``error`` in
the returned :class:`~visivo.telemetry.policy.optout.Reading`, which opts out (fail
closed). Reading rules:

- A missing file says nothing. So do an empty file, a file of comments only, a missing
  key and an explicit ``null``: "no opinion" is never an error.
- A directory, a FIFO or device, an unreadable path, a file over :data:`MAX_FILE_BYTES`,
  invalid UTF-8, malformed YAML (with its line number), YAML aliases, a top level that is
  not a mapping, a project ``defaults`` that is not a mapping, a duplicated relevant key
  and a ``telemetry_enabled`` that is not ``true``/``false`` are errors.
- YAML 1.2 is used, so ``yes``/``no``/``on``/``off`` are strings, hence errors.
- The document is composed, never constructed: only the few nodes we need are looked
  at, so a value elsewhere in the file cannot fail (or be expensive) to construct.

Editing changes the original text minimally (one value token replaced, or one entry
inserted), then re-parses the result and checks that the document is the old one with
just that key set before anything is written. Writes are atomic and keep the file mode.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Final

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import Reader, ReaderError

from visivo.telemetry.policy.optout import Reading

__all__ = [
    "ENDPOINT_KEY",
    "GLOBAL_KEY",
    "MAX_FILE_BYTES",
    "NOTICE_KEY",
    "PROJECT_FILE",
    "GlobalSettings",
    "SettingsError",
    "global_config_path",
    "mark_notice_shown",
    "project_config_path",
    "read_global",
    "read_project",
    "reading_from_value",
    "set_global_enabled",
    "set_project_enabled",
]

GLOBAL_KEY: Final = "telemetry_enabled"
ENDPOINT_KEY: Final = "telemetry_endpoint"
NOTICE_KEY: Final = "telemetry_notice_shown"
PROJECT_FILE: Final = "project.visivo.yml"
MAX_FILE_BYTES: Final = 1024 * 1024

_DEFAULTS_KEY: Final = "defaults"
_STR_TAG: Final = "tag:yaml.org,2002:str"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_READ_CHUNK: Final = 64 * 1024
_SHORT: Final = 60  # characters of a bad value quoted back in an error
_MAX_FAST_DEPTH: Final = 50


class SettingsError(Exception):
    """A settings file could not be changed; ``str()`` is one line naming the file."""


@attrs.frozen
class GlobalSettings:
    """What the global file says.

    Attributes:
        reading: ``telemetry_enabled``, or the problem that made the file unusable.
        endpoint: ``telemetry_endpoint`` when it is a string, else None.
        endpoint_error: why a present ``telemetry_endpoint`` was ignored, else None.
        notice_shown: whether ``telemetry_notice_shown`` is ``true``.
    """

    reading: Reading
    endpoint: str | None = None
    endpoint_error: str | None = None
    notice_shown: bool = False


def global_config_path(home: Path) -> Path:
    """The global config file under a home directory: ``home/.visivo/config.yml``."""
    return home / ".visivo" / "config.yml"


def project_config_path(project_dir: Path) -> Path:
    """The project file of a project directory."""
    return project_dir / PROJECT_FILE


# --------------------------------------------------------------------------- reading


class _Problem(Exception):
    """Internal: a one-line description of why a file cannot be used."""

    def __init__(self, message: str, *, exists: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.exists = exists


@attrs.frozen
class _Loaded:
    text: str  # decoded, without the BOM
    bom: bool
    mode: int


def _load(path: Path) -> _Loaded | None:
    """The decoded text of a regular file, None if it does not exist; raises _Problem."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise _Problem("is a directory, not a file") from None
    except OSError as exc:
        exists = os.path.lexists(path)
        raise _Problem(f"cannot be read: {exc.strerror or exc}", exists=exists) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _Problem("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or a device could block or never end: never read one.
            raise _Problem("is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _Problem(f"is larger than {MAX_FILE_BYTES} bytes: not read")
        chunks: list[bytes] = []
        remaining = MAX_FILE_BYTES + 1  # the file may grow after fstat
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise _Problem(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise _Problem(f"is larger than {MAX_FILE_BYTES} bytes: not read")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise _Problem(f"line {line}: not valid UTF-8 (byte 0x{body[exc.start]:02x})") from None
    return _Loaded(text, bom, stat.S_IMODE(info.st_mode))


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


def _compose(text: str, *, round_trip: bool = False) -> Node | None:
    """The YAML node tree of a single-document text (None when empty); raises _Problem."""
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
        raise _Problem(f"{where}invalid YAML: {problem}") from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise _Problem(f"line {line}: character #x{exc.character:04x} is not allowed") from None
    except YAMLError as exc:  # any other parser complaint is still just a bad file
        raise _Problem(f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise _Problem("invalid YAML: nested too deeply") from None
    return node


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    shown = value if len(value) <= _SHORT else value[:_SHORT] + "..."
    return repr(shown) if node.tag == _STR_TAG else shown


def _lookup(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    """The (key, value) nodes of ``key`` in a mapping; raises _Problem when ambiguous."""
    found: tuple[ScalarNode, Node] | None = None
    for key_node, value_node in mapping.value:
        if not isinstance(key_node, ScalarNode):
            continue
        if key_node.tag == _MERGE_TAG:
            raise _Problem(f"line {_line(key_node)}: merge keys (<<) are not supported")
        if key_node.tag == _STR_TAG and key_node.value == key:
            if found is not None:
                raise _Problem(f"line {_line(key_node)}: duplicate key {key!r}")
            found = (key_node, value_node)
    return found


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _bool_value(node: Node, key: str) -> bool | None:
    """``true``/``false`` as a bool, ``null`` as None; anything else raises _Problem."""
    if isinstance(node, ScalarNode):
        if node.tag == _NULL_TAG:
            return None
        if node.tag == _BOOL_TAG and str(node.value).lower() in ("true", "false"):
            return str(node.value).lower() == "true"
    raise _Problem(
        f"line {_line(node)}: {key} is not a boolean: {_describe(node)} (use true or false)"
    )


def _root_mapping(root: Node | None) -> MappingNode | None:
    if root is None or _is_null(root):
        return None
    if not isinstance(root, MappingNode):
        raise _Problem(f"line {_line(root)}: the top level is {_describe(root)}, not a mapping")
    return root


def _project_value(root: Node | None) -> bool | None:
    mapping = _root_mapping(root)
    if mapping is None:
        return None
    defaults = _lookup(mapping, _DEFAULTS_KEY)
    if defaults is None or _is_null(defaults[1]):
        return None
    if not isinstance(defaults[1], MappingNode):
        node = defaults[1]
        raise _Problem(f"line {_line(node)}: defaults is {_describe(node)}, not a mapping")
    entry = _lookup(defaults[1], GLOBAL_KEY)
    return None if entry is None else _bool_value(entry[1], GLOBAL_KEY)


def read_project(path: Path) -> Reading:
    """What ``defaults.telemetry_enabled`` of a project file says.

    Args:
        path: the project file, usually :func:`project_config_path` of the project dir.

    Returns:
        A Reading; a missing file says nothing, any problem is in ``error``.
    """
    location = str(path)
    try:
        loaded = _load(path)
        if loaded is None:
            return Reading(location)
        fast = _fast_project_value(loaded.text)
        value = fast[0] if fast is not None else _project_value(_compose(loaded.text))
    except _Problem as problem:
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
        loaded = _load(path)
        if loaded is None:
            return GlobalSettings(Reading(location))
        mapping = _root_mapping(_compose(loaded.text))
        if mapping is None:
            return GlobalSettings(Reading(location, exists=True))
        entry = _lookup(mapping, GLOBAL_KEY)
        value = None if entry is None else _bool_value(entry[1], GLOBAL_KEY)
        endpoint_entry = _lookup(mapping, ENDPOINT_KEY)
        notice_entry = _lookup(mapping, NOTICE_KEY)
    except _Problem as problem:
        return GlobalSettings(Reading(location, error=problem.message, exists=problem.exists))
    endpoint: str | None = None
    endpoint_error: str | None = None
    if endpoint_entry is not None and not _is_null(endpoint_entry[1]):
        node = endpoint_entry[1]
        if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
            endpoint = str(node.value)
        else:
            endpoint_error = (
                f"line {_line(node)}: {ENDPOINT_KEY} is not a string: {_describe(node)}"
            )
    notice_shown = False
    if notice_entry is not None:
        with contextlib.suppress(_Problem):
            notice_shown = _bool_value(notice_entry[1], NOTICE_KEY) is True
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
        shown = shown if len(shown) <= _SHORT else shown[:_SHORT] + "..."
    else:
        shown = f"a {type(value).__name__}"
    return Reading(
        location,
        error=f"{GLOBAL_KEY} is not a boolean: {shown} (use true or false)",
        exists=True,
    )


# ----------------------------------------------------------------- project fast path
#
# A Visivo project file has thousands of lines, and ruamel's pure-Python parser needs
# most of a second for 5,000 of them. Most project files use a small, regular part of
# YAML: block mappings and lists, plain or single-line quoted scalars, block scalars
# for SQL. For such a file a line scanner can check the whole structure and find
# ``defaults.telemetry_enabled`` in a few milliseconds. It answers only when every line
# is one it fully understands and the structure is valid; for anything else (any error,
# anchors, tags, tabs, flow style it cannot check, several documents, ...) it returns
# None and the full parse decides, so an error anywhere in the file is still reported.

_FAST_REJECT: Final = re.compile(r"[\t\x85\u2028\u2029\ufeff]|^(?:---|\.\.\.|%)", re.MULTILINE)
_FAST_KEY: Final = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]{0,127}):(?: +(.*))?")
_FAST_DQ: Final = re.compile(r'"[^"\\]*"(?: +(?:#.*)?)?')
_FAST_SQ: Final = re.compile(r"'(?:[^']|'')*'(?: +(?:#.*)?)?")
_FAST_BLOCK: Final = re.compile(r"[|>][+-]?(?: +(?:#.*)?)?")
_FAST_ITEM: Final = r"""(?:[A-Za-z0-9_][A-Za-z0-9_.()/-]*|"[^"\\]*"|'(?:[^']|'')*')"""
_FAST_FLOW: Final = re.compile(
    rf"""(?:\[ *(?:{_FAST_ITEM}(?: *, *{_FAST_ITEM})*)? *\]"""
    rf"""|\{{ *(?:{_FAST_ITEM}: +{_FAST_ITEM}(?: *, *{_FAST_ITEM}: +{_FAST_ITEM})*)? *\}})"""
    r"(?: +(?:#.*)?)?"
)
_PLAIN_NEVER_FIRST: Final = frozenset("-?:,[]{}#&*!|>'\"%@`")
_TRUE_WORDS: Final = frozenset({"true", "True", "TRUE"})
_FALSE_WORDS: Final = frozenset({"false", "False", "FALSE"})
_NULL_WORDS: Final = frozenset({"null", "Null", "NULL", "~"})


def _plain_text(value: str) -> str | None:
    """The plain scalar at the start of ``value`` (comment cut off), None if not simple."""
    first = value[0]
    if first in _PLAIN_NEVER_FIRST and (first not in "-?:" or len(value) == 1 or value[1] == " "):
        return None
    cut = value.find(" #")
    text = (value if cut < 0 else value[:cut]).rstrip(" ")
    if ": " in text or text.endswith(":"):
        return None
    return text


def _inline_ok(value: str) -> bool:
    """Whether a value written on its key's line is a scalar or flow node we can vouch for."""
    if value[0] == '"':
        return _FAST_DQ.fullmatch(value) is not None
    if value[0] == "'":
        return _FAST_SQ.fullmatch(value) is not None
    if value[0] in "[{":
        return _FAST_FLOW.fullmatch(value) is not None
    return _plain_text(value) is not None


@attrs.define
class _Frame:
    indent: int
    is_map: bool
    indentless: bool = False
    is_root: bool = False
    is_defaults: bool = False
    seen: bool = False  # the relevant key (defaults / telemetry_enabled) was seen here


@attrs.define
class _Pending:
    """A key whose value starts on a later line (or is null)."""

    col: int
    is_defaults: bool
    is_flag: bool


def _skip_block_scalar(lines: list[str], start: int, parent_col: int) -> int | None:
    """The index of the first line after a block scalar's content, None if unusual."""
    content_indent: int | None = None
    longest_blank = 0
    i = start
    while i < len(lines):
        line = lines[i]
        body = line.lstrip(" ")
        if not body:
            if content_indent is None:
                longest_blank = max(longest_blank, len(line))
            i += 1
            continue
        indent = len(line) - len(body)
        if content_indent is None:
            if indent <= parent_col or longest_blank > indent:
                return None
            content_indent = indent
        elif indent < content_indent:
            break
        i += 1
    return i if content_indent is not None else None


def _fast_project_value(text: str) -> tuple[bool | None] | None:  # noqa: PLR0915 - one scan
    """``(value,)`` of ``defaults.telemetry_enabled`` for a simple, valid file, else None."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    if _FAST_REJECT.search(text) or Reader.NON_PRINTABLE.search(text):
        return None
    lines = text.split("\n")
    stack: list[_Frame] = []
    pending: _Pending | None = None
    flag: bool | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        body = line.lstrip(" ")
        if not body or body[0] == "#":
            continue
        indent = len(line) - len(body)
        is_entry = body == "-" or body.startswith("- ")
        if pending is not None:
            opened = pending
            pending = None
            if indent > opened.col or (indent == opened.col and is_entry and not opened.is_flag):
                if opened.is_flag or (opened.is_defaults and is_entry):
                    return None  # a collection where a boolean or a mapping belongs
                if len(stack) >= _MAX_FAST_DEPTH:
                    return None
                frame = _Frame(indent, not is_entry, indentless=indent == opened.col)
                frame.is_defaults = opened.is_defaults
                stack.append(frame)
            elif opened.is_defaults:
                return None  # ``defaults:`` with a null value: rare, let the parser say
        if not stack:
            if indent != 0 or is_entry:
                return None
            stack.append(_Frame(0, is_map=True, is_root=True))
        while stack and (
            stack[-1].indent > indent
            or (stack[-1].indentless and stack[-1].indent == indent and not is_entry)
        ):
            stack.pop()
        if not stack or stack[-1].indent != indent:
            return None
        frame = stack[-1]
        col = indent
        if not frame.is_map:
            if not is_entry:
                return None
            rest = body[1:].lstrip(" ")
            col = indent + len(body) - len(rest)
            if not rest or rest[0] == "#" or rest == "-" or rest.startswith("- "):
                return None
            if _FAST_KEY.fullmatch(rest) is None:
                if _FAST_BLOCK.fullmatch(rest) is not None or not _inline_ok(rest):
                    return None
                continue
            if len(stack) >= _MAX_FAST_DEPTH:
                return None
            frame = _Frame(col, is_map=True)
            stack.append(frame)
            body = rest
        elif is_entry:
            return None
        match = _FAST_KEY.fullmatch(body)
        if match is None:
            return None
        key, value = match.group(1), (match.group(2) or "")
        is_defaults = frame.is_root and key == _DEFAULTS_KEY
        is_flag = frame.is_defaults and key == GLOBAL_KEY
        if is_defaults or is_flag:
            if frame.seen:
                return None  # a duplicate: the parser reports it
            frame.seen = True
        if not value or value[0] == "#":
            pending = _Pending(col, is_defaults, is_flag)
            continue
        if is_defaults:
            return None  # ``defaults: <inline>``: rare, let the parser decide
        if _FAST_BLOCK.fullmatch(value) is not None:
            if is_flag:
                return None
            after = _skip_block_scalar(lines, i, col)
            if after is None:
                return None
            i = after
            continue
        if not _inline_ok(value):
            return None
        if is_flag:
            word = _plain_text(value) if value[0] not in "\"'[{" else None
            if word in _TRUE_WORDS:
                flag = True
            elif word in _FALSE_WORDS:
                flag = False
            elif word not in _NULL_WORDS:
                return None  # not a boolean: the parser words the error
    if pending is not None and pending.is_defaults:
        return None
    return (flag,)


# --------------------------------------------------------------------------- editing


def set_global_enabled(path: Path, enabled: bool) -> None:
    """Set ``telemetry_enabled`` in the global file, creating it (and its folder) if needed.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (GLOBAL_KEY,), enabled, private_parent=True)


def set_project_enabled(path: Path, enabled: bool) -> None:
    """Set ``defaults.telemetry_enabled`` in a project file, creating what is missing.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (_DEFAULTS_KEY, GLOBAL_KEY), enabled, private_parent=False)


def mark_notice_shown(path: Path) -> None:
    """Record in the global file that the first-run notice was shown.

    Raises:
        SettingsError: the file cannot be read, parsed or written; it is left unchanged.
    """
    _edit(path, (NOTICE_KEY,), True, private_parent=True)


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
    if isinstance(node, ScalarNode):
        return ("scalar", str(node.tag), str(node.value))
    if isinstance(node, SequenceNode):
        return ("seq", tuple(_shape(item) for item in node.value))
    return ("map", tuple((_shape(k), _shape(v)) for k, v in node.value))


def _with_value(shape: _Shape, keys: tuple[str, ...], word: str) -> _Shape:
    pairs = list(shape[1]) if shape is not None and shape[0] == "map" else []
    key_shape = ("scalar", _STR_TAG, keys[0])
    for index, (key, value) in enumerate(pairs):
        if key == key_shape:
            new = ("scalar", _BOOL_TAG, word) if len(keys) == 1 else None
            pairs[index] = (key, new or _with_value(value, keys[1:], word))
            return ("map", tuple(pairs))
    if len(keys) == 1:
        pairs.append((key_shape, ("scalar", _BOOL_TAG, word)))
    else:
        pairs.append((key_shape, _with_value(None, keys[1:], word)))
    return ("map", tuple(pairs))


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
    return _is_null(node) and node.value == ""


def _after_line(text: str, index: int) -> int:
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _colon_after(text: str, key: Node) -> int:
    colon = text.find(":", int(key.end_mark.index))
    if colon < 0:
        raise _Problem(f"line {_line(key)}: cannot find the ':' after the key")
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
    entry = _lookup(mapping, keys[0])
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
    if _is_null(value):
        new = "{" + _flow_entry(keys[1:], word) + "}"
        return _Change(int(value.start_mark.index), _content_end(text, value), new)
    if not isinstance(value, MappingNode):
        raise _Problem(f"line {_line(value)}: {keys[0]} is {_describe(value)}, not a mapping")
    return _plan(text, value, keys=keys[1:], word=word, unit=unit, newline=newline)


def _edited(text: str, keys: tuple[str, ...], enabled: bool) -> str:
    """The text with ``keys`` set to ``enabled``, verified; raises _Problem."""
    word = "true" if enabled else "false"
    newline = "\r\n" if "\r\n" in text else "\n"
    root = _compose(text, round_trip=True)
    mapping = _root_mapping(root)
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
        raise _Problem("the edit would change other lines")
    try:
        new_root = _compose(new_text, round_trip=True)
    except _Problem as problem:
        raise _Problem(f"the edited file would not parse ({problem.message})") from None
    if _shape(new_root) != _with_value(_shape(mapping), keys, word):
        raise _Problem("the edit could not be done without changing other content")
    return new_text


def _current(mapping: MappingNode, keys: tuple[str, ...]) -> bool | None:
    """The boolean now at ``keys``, None when absent or not a boolean."""
    entry = _lookup(mapping, keys[0])
    if entry is None:
        return None
    if len(keys) > 1:
        return _current(entry[1], keys[1:]) if isinstance(entry[1], MappingNode) else None
    try:
        return _bool_value(entry[1], keys[0])
    except _Problem:
        return None


def _edit(path: Path, keys: tuple[str, ...], enabled: bool, *, private_parent: bool) -> None:
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        loaded = _load(target)
        text = "" if loaded is None else loaded.text
        new_text = _edited(text, keys, enabled)
    except _Problem as problem:
        raise SettingsError(f"{path}: {problem.message} (file not changed)") from None
    if loaded is not None and new_text == text:
        return
    if loaded is None and private_parent:
        _make_private_dir(target.parent, path)
    data = new_text.encode("utf-8")
    if loaded is not None and loaded.bom:
        data = codecs.BOM_UTF8 + data
    _write_atomic(target, data, None if loaded is None else loaded.mode, path)


def _make_private_dir(folder: Path, shown: Path) -> None:
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return
    except OSError as exc:
        raise SettingsError(f"{shown}: cannot create {folder}: {exc.strerror or exc}") from None
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def _write_atomic(path: Path, data: bytes, mode: int | None, shown: Path) -> None:
    """Replace ``path`` with ``data`` atomically, keeping ``mode`` (None: a new file)."""
    temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666 if mode is None else 0o600)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise SettingsError(f"{shown}: cannot write: {reason} (file not changed)") from None
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
