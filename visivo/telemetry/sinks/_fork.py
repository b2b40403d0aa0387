"""Run an object's reset method in a forked child, for as long as the object lives."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

__all__ = ["reset_in_child"]


def reset_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in every forked child while its object is alive.

    A lock held by another thread at the fork stays held forever in the child, where
    that thread does not exist; sinks use this to replace their locks there. The
    object is referenced weakly, so registering does not keep it alive.
    """
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.WeakMethod(method)

    def hook() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=hook)
