"""This distribution's version: the one place it is declared (pyproject.toml reads it)."""

from __future__ import annotations

from typing import Final

__version__: Final = "0.1.0"
