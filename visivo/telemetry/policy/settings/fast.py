"""The project file's fast path: a line scanner for the common subset of YAML.

A Visivo project file has thousands of lines, and ruamel's pure-Python parser needs
most of a second for 5,000 of them. Most project files use a small, regular part of
YAML: block mappings and lists, plain or single-line quoted scalars, block scalars
for SQL, anchors and aliases to share a few properties. For such a file a line scanner
can check the whole structure and find ``defaults.telemetry_enabled`` (or a near
spelling) in a few milliseconds. It answers only when every line is one it fully
understands and the structure is valid; for anything else (any error, tags, tabs outside
comments, quotes and block scalars, flow style it cannot check, several documents, an
alias or a merge key on the key path, a value that is not ``true``/``false``, ...) it
gives up, naming the line, and the full parse decides, so an error anywhere in the file
is still reported.
"""

from __future__ import annotations

import re
from typing import Final

import attrs
from ruamel.yaml.reader import Reader

from visivo.telemetry.policy.settings.keys import (
    DEFAULTS_KEY,
    Found,
    Problem,
    combine,
    is_enabled_key,
)

_MAX_FAST_DEPTH: Final = 50
_TAB: Final = "\x00"  # what a tab becomes while scanning

_FAST_REJECT: Final = re.compile(r"[\x85\u2028\u2029\ufeff]|^(?:---|\.\.\.|%)", re.MULTILINE)
_FAST_KEY: Final = re.compile(r"(<<|[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}):(?: +(.*))?")
_MERGE: Final = "<<"
_FAST_ANCHOR: Final = re.compile(r"&[A-Za-z0-9_-]+(?= |$)")
_FAST_ALIAS: Final = re.compile(r"\*[A-Za-z0-9_-]+(?: +(?:#.*)?)?")
_FAST_DQ: Final = re.compile(r'"[^"\\]*"(?: +(?:#.*)?)?')
_FAST_SQ: Final = re.compile(r"'(?:[^']|'')*'(?: +(?:#.*)?)?")
_FAST_BLOCK: Final = re.compile(r"[|>][+-]?(?: +(?:#.*)?)?")
_FAST_ITEM: Final = r"""(?:[A-Za-z0-9_][A-Za-z0-9_.()/-]*|"[^"\\]*"|'(?:[^']|'')*')"""
_FAST_SEQ_ITEM: Final = rf"(?:{_FAST_ITEM}|\*[A-Za-z0-9_-]+)"
_FAST_FLOW: Final = re.compile(
    rf"""(?:\[ *(?:{_FAST_SEQ_ITEM}(?: *, *{_FAST_SEQ_ITEM})*)? *\]"""
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
    if ": " in text or text.endswith(":") or _TAB in text:
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
    if value[0] == "*":
        return _FAST_ALIAS.fullmatch(value) is not None
    return _plain_text(value) is not None


@attrs.define
class _Frame:
    indent: int
    is_map: bool
    indentless: bool = False
    is_root: bool = False
    is_defaults: bool = False
    seen: set[str] = attrs.field(factory=set)  # relevant keys (defaults, the flag) seen here


@attrs.define
class _Pending:
    """A key whose value starts on a later line (or is null)."""

    col: int
    is_defaults: bool
    key: str | None  # the flag's key as written, when this is the flag
    line: int


def _skip_block_scalar(lines: list[str], start: int, parent_col: int) -> int | None:
    """The index of the first line after a block scalar's content, None if unusual."""
    content_indent: int | None = None
    first_blank: int | None = None
    longest_blank = 0
    i = start
    while i < len(lines):
        line = lines[i]
        body = line.lstrip(" ")
        if not body:
            if content_indent is None:
                longest_blank = max(longest_blank, len(line))
                first_blank = len(line) if first_blank is None else first_blank
            i += 1
            continue
        indent = len(line) - len(body)
        if content_indent is None:
            if indent <= parent_col or longest_blank > indent:
                return None
            if first_blank and max(longest_blank, indent) > first_blank:
                return None  # ruamel refuses leading blanks shorter than what follows
            content_indent = indent
        elif indent < content_indent:
            break
        i += 1
    return i if content_indent is not None else None


@attrs.frozen
class GaveUp:
    """The fast path cannot vouch for the file; ``line`` (1-based) is where it stopped."""

    line: int


def fast_project_value(text: str) -> Found | GaveUp:  # noqa: PLR0915 - one scan
    """What ``defaults.telemetry_enabled`` says in a simple, valid file, else GaveUp.

    Raises:
        Problem: the file is valid but the flag is empty (null), as the full parse says.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return GaveUp(text.count("\n", 0, text.index("\r")) + 1)
    odd = _FAST_REJECT.search(text) or Reader.NON_PRINTABLE.search(text)
    if odd is not None:
        return GaveUp(text.count("\n", 0, odd.start()) + 1)
    # A tab is fine in a comment, a quoted scalar or a block scalar's text, and nowhere
    # else we accept: as NUL (never in the text, see above) it matches none of the
    # patterns' separators, and _plain_text refuses it.
    text = text.replace("\t", _TAB)
    lines = text.split("\n")
    stack: list[_Frame] = []
    pending: _Pending | None = None
    entries: list[tuple[str, bool]] = []
    empty: str | None = None  # the error for the first null flag, reported if all else is fine
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
            if indent > opened.col or (indent == opened.col and is_entry and not opened.key):
                if opened.key or (opened.is_defaults and is_entry):
                    return GaveUp(i)  # a collection where a boolean or a mapping belongs
                if len(stack) >= _MAX_FAST_DEPTH:
                    return GaveUp(i)
                frame = _Frame(indent, not is_entry, indentless=indent == opened.col)
                frame.is_defaults = opened.is_defaults
                stack.append(frame)
            elif opened.is_defaults:
                return GaveUp(i)  # ``defaults:`` null: rare, let the parser say
            elif opened.key:
                empty = empty or _not_a_boolean(opened.line, opened.key, "")
        if not stack:
            if indent != 0 or is_entry:
                return GaveUp(i)
            stack.append(_Frame(0, is_map=True, is_root=True))
        while stack and (
            stack[-1].indent > indent
            or (stack[-1].indentless and stack[-1].indent == indent and not is_entry)
        ):
            stack.pop()
        if not stack or stack[-1].indent != indent:
            return GaveUp(i)
        frame = stack[-1]
        col = indent
        if not frame.is_map:
            if not is_entry:
                return GaveUp(i)
            rest = body[1:].lstrip(" ")
            col = indent + len(body) - len(rest)
            if not rest or rest[0] in "#&" or rest == "-" or rest.startswith("- "):
                return GaveUp(i)
            if _FAST_KEY.fullmatch(rest) is None:
                if _FAST_BLOCK.fullmatch(rest) is not None or not _inline_ok(rest):
                    return GaveUp(i)
                continue
            if len(stack) >= _MAX_FAST_DEPTH:
                return GaveUp(i)
            frame = _Frame(col, is_map=True)
            stack.append(frame)
            body = rest
        elif is_entry:
            return GaveUp(i)
        match = _FAST_KEY.fullmatch(body)
        if match is None:
            return GaveUp(i)
        key, value = match.group(1), (match.group(2) or "")
        is_defaults = frame.is_root and key == DEFAULTS_KEY
        flag_key = key if frame.is_defaults and is_enabled_key(key) else None
        if key == _MERGE and (frame.is_root or frame.is_defaults):
            return GaveUp(i)  # a merge on the key path: the parser follows it
        if is_defaults or flag_key:
            if key in frame.seen:
                return GaveUp(i)  # a duplicate: the parser reports it
            frame.seen.add(key)
        anchor = _FAST_ANCHOR.match(value) if value[:1] == "&" else None
        if anchor is not None:
            value = value[anchor.end() :].lstrip(" ")
            if value[:1] == "*":
                return GaveUp(i)  # an alias cannot have an anchor
        if not value or value[0] == "#":
            pending = _Pending(col, is_defaults, flag_key, i)
            continue
        if is_defaults:
            return GaveUp(i)  # ``defaults: <inline>``: rare, let the parser decide
        if _FAST_BLOCK.fullmatch(value) is not None:
            if flag_key:
                return GaveUp(i)
            after = _skip_block_scalar(lines, i, col)
            if after is None:
                return GaveUp(i)
            i = after
            continue
        if not _inline_ok(value):
            return GaveUp(i)
        if flag_key:
            word = _plain_text(value) if value[0] not in "\"'[{*" else None
            if word in _TRUE_WORDS:
                entries.append((flag_key, True))
            elif word in _FALSE_WORDS:
                entries.append((flag_key, False))
            elif word in _NULL_WORDS:
                empty = empty or _not_a_boolean(i, flag_key, word)
            else:
                return GaveUp(i)  # not a boolean: the parser words the error
    if pending is not None and pending.is_defaults:
        return GaveUp(len(lines))
    if pending is not None and pending.key:
        empty = empty or _not_a_boolean(pending.line, pending.key, "")
    if empty is not None:
        raise Problem(empty)  # the whole file is valid: the first empty flag is the error
    return combine(entries)


def _not_a_boolean(line: int, key: str, word: str) -> str:
    """The full parse's error for a null flag (see nodes.bool_value)."""
    shown = "null" if word in ("", "~") else word
    return f"line {line}: {key} is not a boolean: {shown} (use true or false)"
