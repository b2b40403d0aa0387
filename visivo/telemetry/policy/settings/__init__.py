"""Read and edit the telemetry settings in Visivo's YAML files: the only package doing file I/O.

Two files matter. The global file, ``~/.visivo/config.yml``, holds ``telemetry_enabled``,
``telemetry_endpoint`` and ``telemetry_notice_shown`` at the top level. The project file,
``project.visivo.yml``, can only opt out, through ``defaults.telemetry_enabled``.

Reading never raises for bad user input: every problem becomes a one-line ``error`` in
the returned :class:`~visivo.telemetry.policy.optout.Reading`, which opts out (fail
closed). Reading rules:

- A missing file says nothing. So do an empty file, a file of comments only and a
  missing key: "no opinion" is never an error.
- ``telemetry_enabled`` must be ``true`` or ``false``; anything else, an empty value
  (``null``) included, is an error. YAML 1.2 is used, so ``yes``/``no``/``on``/``off``
  are strings, hence errors.
- A key that folds (case, ``_``, ``-``) to within two edits of ``telemetry_enabled``
  (``Telemetry-Enabled``, ``telemetryEnabled``, ``telemtry_enabled``) is a misspelling
  of it: ``false`` opts out, ``true`` enables nothing, and ``Reading.note`` asks for the
  spelling to be fixed.
- A directory, a FIFO or device, an unreadable path, a file over :data:`MAX_FILE_BYTES`,
  invalid UTF-8, malformed YAML (with its line number), a top level that is not a
  mapping, a project ``defaults`` that is not a mapping and a duplicated relevant key are
  errors. Exception: a project file whose text never mentions the key (nor a near
  spelling) says nothing, parsed or not: it cannot be opting out.
- Anchors, aliases and merge keys are ordinary YAML. The document is composed, never
  constructed, and aliases are never expanded; only the key path follows an alias or a
  merge key, one node at a time.
- A project file is read by a line scanner when it can vouch for it, else by the full
  parser, but only up to ``FULL_PARSE_MAX_BYTES``: a larger file it cannot vouch for is
  an error naming the line, rather than seconds spent on a command's thread.

Editing changes the original text minimally (one value token replaced, or one entry
inserted), then re-parses the result and checks that the document is the old one with
just that key set before anything is written. Writes are atomic and keep the file mode.

One room per job: ``keys`` (names, limits, what counts as the key), ``files`` (bounded
reads, atomic writes), ``nodes`` (the composed YAML tree and its lookups), ``fast`` (the
project file's line scanner), ``reading`` (the public readers) and ``editing``
(enable/disable and the notice marker). A project file that is a symlink is never edited.
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
