"""Generated sections of a documentation page: replace one, or check that it is current.

A page holds each generated section between a BEGIN and an END marker line; the
generators (:mod:`visivo.telemetry.schema_doc`, the network sinks' ``fields_doc``) own
the text between them, people own the prose around them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["replace_generated", "rewrite_page"]


def replace_generated(page: str, generated: str, *, begin: str, end: str) -> str:
    """The page with the text between the ``begin`` and ``end`` markers replaced.

    Raises:
        ValueError: the page does not hold exactly one pair of markers, in order.
    """
    if page.count(begin) != 1 or page.count(end) != 1:
        raise ValueError("the page needs exactly one BEGIN and one END generated marker")
    head, rest = page.split(begin)
    if end in head:
        raise ValueError("the END generated marker comes before the BEGIN marker")
    _, tail = rest.split(end)
    return f"{head}{begin}\n{generated}{end}{tail}"


def rewrite_page(
    argv: Sequence[str],
    generated: str,
    *,
    module: str,
    begin: str,
    end: str,
) -> int:
    """``(--write | --check) PAGE``: rewrite or compare one generated section of a page.

    ``module`` is the generator's ``python -m`` name, for the usage and stale messages.
    """
    usage = f"usage: python -m {module} (--write | --check) PAGE.md"
    if len(argv) != 2 or argv[0] not in ("--write", "--check"):
        sys.stderr.write(usage + "\n")
        return 2
    mode, path = argv
    with open(path, encoding="utf-8") as page_file:
        page = page_file.read()
    updated = replace_generated(page, generated, begin=begin, end=end)
    if mode == "--check":
        if updated != page:
            sys.stderr.write(f"{path} is out of date; run: {usage.split(': ')[1]}\n")
            return 1
        return 0
    if updated != page:
        with open(path, "w", encoding="utf-8", newline="\n") as page_file:
            page_file.write(updated)
        sys.stdout.write(f"rewrote the generated section in {path}\n")
    return 0
