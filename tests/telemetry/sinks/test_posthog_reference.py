"""Our PostHog bodies have the shape of the official client's (a recorded reference).

``tests/fixtures/posthog_reference.json`` is what posthog-python sent to a loopback
collector for one anonymous event (``tests/fixtures/make_posthog_reference.py`` says how to
regenerate it). We match its keys and JSON types, and differ only where listed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.telemetry.sinks.test_encoders import FORMATS, SENT_AT, full_wires, uuids
from visivo.telemetry.sinks.network.wire import encode_body

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "posthog_reference.json"

# Properties posthog-python adds from the host, which we never send: nothing from the
# environment or the machine reaches a body.
NOT_SENT_BY_US = {
    "$os": "the host's OS name (we send the envelope's os family instead)",
    "$os_distro": "the Linux distribution",
    "$os_version": "the OS version",
    "$python_runtime": "the interpreter implementation",
    "$python_version": "duplicates python_version, from the host",
    "$is_server": "a client-library flag",
}


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (bool before int, as JSON has no int/bool link)."""
    for name, kind in (("boolean", bool), ("number", int | float), ("string", str)):
        if isinstance(value, kind):
            return name
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "null"


def shape(document: dict[str, Any]) -> dict[str, str]:
    """Key → JSON type of one level of a document."""
    return {key: json_type(value) for key, value in document.items()}


def reference() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(REFERENCE.read_text())
    return record


def ours() -> dict[str, Any]:
    body = encode_body(FORMATS["posthog"], full_wires()[:1], uuids(1), SENT_AT)
    document: dict[str, Any] = json.loads(body)
    return document


def test_same_path() -> None:
    """The official client posts to /batch/, as our sink does."""
    assert reference()["path"] == "/batch/"


def test_top_level_keys_and_types_match() -> None:
    """api_key, batch, historical_migration, sent_at: same keys, same JSON types."""
    assert shape(ours()) == shape(reference()["body"])


def test_event_keys_and_types_match() -> None:
    """event, distinct_id, timestamp, uuid, properties: same keys, same JSON types."""
    (theirs,) = reference()["body"]["batch"]
    (mine,) = ours()["batch"]
    assert shape(mine) == shape(theirs)


def test_shared_properties_have_the_same_types() -> None:
    """Every property both send has the same JSON type (and $-switches the same value)."""
    (theirs,) = reference()["body"]["batch"]
    (mine,) = ours()["batch"]
    theirs_p, mine_p = theirs["properties"], mine["properties"]
    shared = set(theirs_p) & set(mine_p)
    assert {k: json_type(mine_p[k]) for k in shared} == {k: json_type(theirs_p[k]) for k in shared}
    for switch in ("$process_person_profile", "$geoip_disable", "$ip"):
        assert mine_p[switch] == theirs_p[switch]


def test_we_differ_only_where_documented() -> None:
    """We leave out exactly the host facts the official client adds, and add nothing."""
    (theirs,) = reference()["body"]["batch"]
    (mine,) = ours()["batch"]
    assert set(theirs["properties"]) - set(mine["properties"]) == set(NOT_SENT_BY_US)
    assert set(mine["properties"]) - set(theirs["properties"]) == set()
