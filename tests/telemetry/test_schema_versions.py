"""Schema versions: every published JSON Schema is frozen, and a change to the fields needs a
new version.

To publish a version: bump ``SCHEMA_VERSION`` in ``visivo/telemetry/schema.py``, run
``python -m visivo.telemetry.schema_doc --write docs/telemetry.md`` (it writes
``v<N>.json``), and add the new file's SHA-256 to :data:`PUBLISHED` below.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support import clean_env, run_cli
from visivo.telemetry import schema_doc, schema_versions
from visivo.telemetry.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "visivo" / "telemetry" / "schemas"

# Version → SHA-256 of its published file. A published file never changes: collectors
# validate events of that version against it.
PUBLISHED = {
    1: "adcee762b94a80758087f1e6d52160ea467f4b0ec3dc03dec0e756e89e96f311",
    2: "d7d14382b10a76d7670104eb836dd08b8bedcb45c76935d0e6cbfbc15027d86d",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_published_files_are_frozen() -> None:
    """Each published version's file is byte for byte the one released."""
    assert schema_versions.published_versions() == sorted(PUBLISHED)
    for version, digest in PUBLISHED.items():
        assert _sha256(FOLDER / f"v{version}.json") == digest, (
            f"v{version}.json changed after it was published; publish a new version instead"
        )


def test_every_version_up_to_the_current_one_is_published() -> None:
    """Versions 1 to SCHEMA_VERSION are all published, none beyond."""
    assert schema_versions.published_versions() == list(range(1, SCHEMA_VERSION + 1))


def test_fields_changed_without_a_version_bump() -> None:
    """The current fields are those of the current version's published schema.

    Fails when a field is added, removed, retyped or constrained differently without a
    bump of SCHEMA_VERSION; description texts may change freely.
    """
    published = schema_versions.published_schema(SCHEMA_VERSION)
    assert schema_versions.structure(schema_doc.json_schema()) == schema_versions.structure(
        published
    ), "the event fields changed: bump SCHEMA_VERSION and publish (see CONTRIBUTING)"


def test_each_file_names_its_version() -> None:
    """A published schema's $id and schema_version constant are its own version."""
    for version in schema_versions.published_versions():
        schema = schema_versions.published_schema(version)
        assert schema["$id"].endswith(f"-v{version}.json")
        for branch in schema["oneOf"]:
            event = schema["$defs"][branch["$ref"].rpartition("/")[2]]
            assert event["properties"]["schema_version"] == {"type": "integer", "const": version}


def test_docs_folder_is_the_published_folder() -> None:
    """docs/schemas shows the same files the package installs."""
    assert (ROOT / "docs" / "schemas").resolve() == FOLDER.resolve()


def test_publish_refuses_to_change_a_published_version(tmp_path: Path) -> None:
    """Publishing over a published version with other fields fails and leaves the file alone."""
    released = schema_doc.json_schema()
    released["$defs"]["command_finished_properties"]["properties"].pop("jobs")
    frozen = tmp_path / f"v{SCHEMA_VERSION}.json"
    frozen.write_text(schema_versions.schema_text(released))
    with pytest.raises(ValueError, match="bump SCHEMA_VERSION"):
        schema_versions.publish(tmp_path)
    assert frozen.read_text() == schema_versions.schema_text(released)


def test_publish_writes_a_new_version_once(tmp_path: Path) -> None:
    """Publishing writes the current schema once and prints its digest; again, it does nothing."""
    message = schema_versions.publish(tmp_path)
    path = tmp_path / f"v{SCHEMA_VERSION}.json"
    assert message is not None
    assert f'{SCHEMA_VERSION}: "{_sha256(path)}"' in message
    assert json.loads(path.read_text()) == schema_doc.json_schema()
    assert schema_versions.publish(tmp_path) is None


class TestCli:
    def test_version_prints_the_published_file(self, tmp_path: Path) -> None:
        """`schema --format json --version N` prints version N's published file exactly."""
        env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="null")
        done = run_cli(["schema", "--format", "json", "--version", "1"], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (FOLDER / "v1.json").read_text(encoding="utf-8")

    def test_unknown_version_is_a_usage_error(self, tmp_path: Path) -> None:
        """An unpublished version exits 2 and lists the published ones."""
        env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="null")
        done = run_cli(["schema", "--format", "json", "--version", "99"], env=env, cwd=tmp_path)
        assert done.returncode == 2
        assert "schema version 99 is not published (published: 1" in done.stderr
