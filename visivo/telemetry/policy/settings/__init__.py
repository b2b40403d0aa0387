"""Read and edit the telemetry settings in Visivo's YAML files: the only package doing file I/O.

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

One room per job: ``keys`` (names, limits, small types), ``files`` (bounded reads, atomic
writes), ``fast`` (the project file's line scanner), ``reading`` (the full parse and the
public readers) and ``editing`` (enable/disable and the notice marker).
"""

from __future__ import annotations

from visivo.telemetry.policy.settings.editing import (
    mark_notice_shown,
    set_global_enabled,
    set_project_enabled,
)
from visivo.telemetry.policy.settings.keys import (
    ENDPOINT_KEY,
    GLOBAL_KEY,
    MAX_FILE_BYTES,
    NOTICE_KEY,
    PROJECT_FILE,
    GlobalSettings,
    SettingsError,
    global_config_path,
    project_config_path,
)
from visivo.telemetry.policy.settings.reading import read_global, read_project, reading_from_value

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
