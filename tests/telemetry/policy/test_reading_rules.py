"""The reading rules of the settings files: aliases, misspelt keys, broken and huge projects."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.telemetry.policy.test_settings import bench, full_answer, write
from visivo.telemetry.policy.optout import Reading
from visivo.telemetry.policy.settings import GLOBAL_KEY, PROJECT_FILE, read_global, read_project
from visivo.telemetry.policy.settings.fast import GaveUp, fast_project_value
from visivo.telemetry.policy.settings.keys import (
    FULL_PARSE_MAX_BYTES,
    Found,
    is_enabled_key,
    may_mention_key,
)


def project(tmp_path: Path, text: str | bytes) -> Reading:
    """Read ``text`` as the project file of ``tmp_path``."""
    return read_project(write(tmp_path / PROJECT_FILE, text))


def timed(func: object) -> tuple[object, float]:
    """Call ``func`` three times; return its result and the fastest call's seconds.

    The fastest of three keeps the bound meaningful on a machine busy with other work.
    """
    assert callable(func)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


class TestAliases:
    @pytest.mark.parametrize("flag", ["", "true", "false"])
    def test_realistic_project_with_aliases_reads_fast(self, tmp_path: Path, flag: str) -> None:
        """Anchors, aliases and a merge key in a 5,000-line project say nothing by themselves."""
        text = bench.make_project(5000, flag=flag, aliases=True)
        assert text.count("<<: *weekly") > 50
        expected = {"": None, "true": True, "false": False}[flag]
        assert fast_project_value(text) == Found(expected)  # no fallback to the full parse
        reading, seconds = timed(lambda: project(tmp_path, text))
        assert reading == Reading(str(tmp_path / PROJECT_FILE), value=expected, exists=True)
        assert seconds < 0.25

    def test_fast_and_full_agree_on_aliases(self) -> None:
        """The fast path and the full parse give the same answer with aliases everywhere."""
        text = bench.make_project(400, aliases=True, indent=4, offset=0)
        assert fast_project_value(text) == full_answer(text) == Found(False)

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            (f"base: &b\n  {GLOBAL_KEY}: false\ndefaults:\n  <<: *b\n  x: 1\n", False),
            (f"base: &b\n  {GLOBAL_KEY}: false\ndefaults:\n  <<: *b\n  {GLOBAL_KEY}: true\n", True),
            (f"a: &a\n  {GLOBAL_KEY}: false\nb: &b\n  <<: *a\ndefaults:\n  <<: [*b]\n", False),
            (f"off: &off false\ndefaults: &d\n  {GLOBAL_KEY}: *off\n", False),
            ("loop: &l\n  <<: *l\ndefaults:\n  <<: *l\n# telemetry_enabled\n", None),
        ],
    )
    def test_key_path_follows_aliases_and_merges(
        self, tmp_path: Path, text: str, value: bool | None
    ) -> None:
        """On the key path one alias or merge is followed at a time, written keys first."""
        assert project(tmp_path, text) == Reading(
            str(tmp_path / PROJECT_FILE), value=value, exists=True
        )


class TestBrokenProjects:
    @pytest.mark.parametrize(
        "text", ["a: [1,\n", "- a\n", "a: 'x\n", "a:\tb\n  c: d\n", "defaults: 3\n", "%TAG\n"]
    )
    def test_no_mention_says_nothing(self, tmp_path: Path, text: str) -> None:
        """A broken project file that never mentions the key expresses no opinion."""
        reading = project(tmp_path, text)
        assert reading == Reading(str(tmp_path / PROJECT_FILE), exists=True)
        assert not reading.opts_out

    @pytest.mark.parametrize("key", [GLOBAL_KEY, "Telemetry-Enabled", "telemtry_enabled"])
    def test_mention_and_broken_fails_closed(self, tmp_path: Path, key: str) -> None:
        """A broken project file that mentions the key (or a near spelling) opts out."""
        reading = project(tmp_path, f"defaults:\n  {key}: false\nmodels: [a,\n")
        assert reading.error is not None
        assert reading.error.startswith("line 4: invalid YAML")
        assert reading.opts_out

    def test_not_utf8_without_mention_says_nothing(self, tmp_path: Path) -> None:
        """Invalid UTF-8 in a project that never mentions the key says nothing."""
        assert project(tmp_path, b"name: caf\xe9\n").error is None
        reading = project(tmp_path, b"name: caf\xe9\n# telemetry_enabled: false\n")
        assert reading.error == "line 1: not valid UTF-8 (byte 0xe9)"

    def test_global_file_stays_fail_closed(self, tmp_path: Path) -> None:
        """The global file opts out on any parse error, mention or not."""
        reading = read_global(write(tmp_path / "config.yml", "a: [1,\n")).reading
        assert reading.error is not None
        assert reading.opts_out


class TestLargeProjects:
    def test_huge_project_with_a_tab_in_sql_is_fast(self, tmp_path: Path) -> None:
        """An 850 KiB project with a tab in a block scalar is read by the fast path."""
        text = bench.huge_project("").replace("as total", "as\ttotal", 1)
        assert 800 * 1024 < len(text) < 900 * 1024
        reading, seconds = timed(lambda: project(tmp_path, text))
        assert isinstance(reading, Reading)
        assert reading.value is False
        assert seconds < 0.5

    def test_huge_project_the_fast_path_cannot_follow_fails_closed_fast(
        self, tmp_path: Path
    ) -> None:
        """An 850 KiB project with a tab in its indentation opts out at once, naming the line."""
        text = bench.huge_project("\n  -\tname: odd")
        line = text[: text.index("\t")].count("\n") + 1
        assert isinstance(fast_project_value(text), GaveUp)
        reading, seconds = timed(lambda: project(tmp_path, text))
        assert isinstance(reading, Reading)
        assert reading.error is not None
        assert reading.error.startswith(f"line {line}: the quick reader cannot follow this line")
        assert f"over {FULL_PARSE_MAX_BYTES // 1024} KiB" in reading.error
        assert seconds < 0.5

    def test_huge_broken_project_without_mention_says_nothing_fast(self, tmp_path: Path) -> None:
        """An 850 KiB broken project that never mentions the key is not parsed at all."""
        text = bench.huge_project("\n  -\tname: odd", flag="")
        assert not may_mention_key(text)
        reading, seconds = timed(lambda: project(tmp_path, text))
        assert reading == Reading(str(tmp_path / PROJECT_FILE), exists=True)
        assert seconds < 0.2


NEAR_MISSES = ["Telemetry_Enabled", "telemetry-enabled", "telemetryEnabled", "TELEMETRY_ENABLED",
               "telemtry_enabled", "telemetry_enable", "telemetry__enabled"]  # fmt: skip
FAR = ["telemetry_disabled", "telemetry_endpoint", "enabled", "telemetry", "send_telemetry"]


class TestNearMisses:
    @pytest.mark.parametrize("key", NEAR_MISSES)
    def test_is_near(self, key: str) -> None:
        """Case, separators, camelCase and up to two typos still name the key."""
        assert is_enabled_key(key)
        assert may_mention_key(f"x: 1\n{key}: false\n")

    @pytest.mark.parametrize("key", FAR)
    def test_is_far(self, key: str) -> None:
        """Other keys, including the opposite telemetry_disabled, are not the key."""
        assert not is_enabled_key(key)

    @pytest.mark.parametrize("key", NEAR_MISSES)
    def test_near_false_opts_out_in_both_files(self, tmp_path: Path, key: str) -> None:
        """A misspelt key set to false is the opt-out it means, with a note to fix it."""
        note = f"read `{key}` as `{GLOBAL_KEY}`; fix the spelling"
        text = bench.make_project(200, key=key)
        assert fast_project_value(text) == full_answer(text) == Found(False, note)
        assert project(tmp_path, text).note == note
        glob = read_global(write(tmp_path / "config.yml", f"{key}: false\n")).reading
        assert glob == Reading(glob.location, value=False, exists=True, note=note)

    @pytest.mark.parametrize("key", NEAR_MISSES)
    def test_near_true_enables_nothing(self, tmp_path: Path, key: str) -> None:
        """A misspelt key set to true says nothing, and the note says so."""
        note = f"ignored `{key}: true`, only `{GLOBAL_KEY}: true` counts; fix the spelling"
        text = bench.make_project(200, key=key, flag="true")
        assert fast_project_value(text) == full_answer(text) == Found(None, note)
        glob = read_global(write(tmp_path / "config.yml", f"{key}: true\n")).reading
        assert glob == Reading(glob.location, value=None, exists=True, note=note)

    def test_exact_true_and_misspelt_false_opts_out(self, tmp_path: Path) -> None:
        """A misspelt false beside a written true still opts out."""
        text = f"defaults:\n  {GLOBAL_KEY}: true\n  telemetry-enabled: false\n"
        reading = project(tmp_path, text)
        assert reading.value is False
        assert reading.opts_out

    @pytest.mark.parametrize("value", ["", "~", "null", "'no'", "0"])
    def test_misspelt_non_boolean_opts_out(self, tmp_path: Path, value: str) -> None:
        """A misspelt key with anything but true/false fails closed like the key itself."""
        reading = project(tmp_path, f"defaults:\n  Telemetry_Enabled: {value}\n")
        assert reading.error is not None
        assert reading.error.startswith("line 2: Telemetry_Enabled is not a boolean")
