"""Every telemetry-relevant signal Visivo sends, and the keywords each one carries.

Receivers are connected by :mod:`visivo.telemetry` only while telemetry is enabled.
Host code sends with ``signal.send(sender, **payload)``; check ``signal.receivers``
first when building the payload costs anything. Keywords not listed here are stripped
before anything leaves the process.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

command_started = _signals.signal(
    "command_started",
    doc="""A CLI command began. Keywords: ``command: str`` (its path below the root group).

    Not sent anywhere on its own; it lets receivers time or annotate a command.
    """,
)

command_finished = _signals.signal(
    "command_finished",
    doc="""A CLI command ended. Keywords:

    - ``command: str``: its path below the root group (``"run"``, ``"db migrate"``);
    - ``duration_ms: float``: wall-clock duration, from a monotonic clock;
    - ``success: bool``;
    - ``error: BaseException | None``: only its class name is ever sent;
    - ``jobs: int | None``: jobs run (``run``);
    - ``object_counts: Mapping[str, int] | None``: objects by type (``compile``).
    """,
)

request_finished = _signals.signal(
    "request_finished",
    doc="""The server answered an HTTP request. Keywords:

    - ``method: str``;
    - ``status_code: int``: the status the client received;
    - ``duration_ms: float``;
    - ``route: str | None``: the router's template, e.g. ``/api/project/<int:project_id>``;
    - ``path: str``: the raw path, templated and used only when ``route`` is None.
    """,
)
