"""Reading and editing the telemetry settings files, on real files in tmp_path."""

from __future__ import annotations

import codecs
import difflib
import importlib.util
import os
import random
import stat
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from visivo.telemetry.policy.optout import Reading
from visivo.telemetry.policy.settings import (
    ENDPOINT_KEY,
    GLOBAL_KEY,
    MAX_FILE_BYTES,
    NOTICE_KEY,
    PROJECT_FILE,
    GlobalSettings,
    SettingsError,
    global_config_path,
    mark_notice_shown,
    project_config_path,
    read_global,
    read_project,
    reading_from_value,
    set_global_enabled,
    set_project_enabled,
)
from visivo.telemetry.policy.settings.fast import GaveUp, fast_project_value
from visivo.telemetry.policy.settings.keys import Found, Problem
from visivo.telemetry.policy.settings.nodes import compose
from visivo.telemetry.policy.settings.reading import project_value

_BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_settings.py"
_spec = importlib.util.spec_from_file_location("bench_settings", _BENCH)
assert _spec is not None
assert _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_settings"] = bench
_spec.loader.exec_module(bench)

FAST = hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write(path: Path, text: str | bytes) -> Path:
    """Write text exactly (no newline translation) and return the path."""
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


class TestPaths:
    def test_global_config_path(self, tmp_path: Path) -> None:
        """The global file is ~/.visivo/config.yml."""
        assert global_config_path(tmp_path) == tmp_path / ".visivo" / "config.yml"

    def test_project_config_path(self, tmp_path: Path) -> None:
        """The project file is project.visivo.yml in the project directory."""
        assert project_config_path(tmp_path) == tmp_path / PROJECT_FILE


# (file text, expected value, expected error fragment or None)
GLOBAL_CASES = [
    ("", None, None),
    ("# only a comment\n\n", None, None),
    (f"{GLOBAL_KEY}: true\n", True, None),
    (f"{GLOBAL_KEY}: false\n", False, None),
    (f"{GLOBAL_KEY}: False\n", False, None),
    (f"{GLOBAL_KEY}: TRUE  # c\n", True, None),
    (f"{GLOBAL_KEY}:\n", None, "line 1: telemetry_enabled is not a boolean: null (use true"),
    (f"{GLOBAL_KEY}: null\n", None, "line 1: telemetry_enabled is not a boolean: null"),
    (f"{GLOBAL_KEY}: ~\n", None, "line 1: telemetry_enabled is not a boolean: null"),
    ("other: 1\n", None, None),
    (f"{GLOBAL_KEY}: no\n", None, "line 1: telemetry_enabled is not a boolean: 'no'"),
    (f"{GLOBAL_KEY}: off\n", None, "not a boolean: 'off'"),
    (f"{GLOBAL_KEY}: yes\n", None, "not a boolean: 'yes'"),
    (f'{GLOBAL_KEY}: "false"\n', None, "not a boolean: 'false'"),
    (f"{GLOBAL_KEY}: 0\n", None, "not a boolean: 0"),
    (f"a: 1\n\n{GLOBAL_KEY}: 1\n", None, "line 3: telemetry_enabled is not a boolean: 1"),
    (f"{GLOBAL_KEY}: [false]\n", None, "not a boolean: a list"),
    (f"{GLOBAL_KEY}:\n  x: 1\n", None, "not a boolean: a mapping"),
    (f"{GLOBAL_KEY}: true\n{GLOBAL_KEY}: false\n", None, "line 2: duplicate key"),
    ("- a\n- b\n", None, "line 1: the top level is a list, not a mapping"),
    ("just text\n", None, "the top level is 'just text', not a mapping"),
    ("a: 1\nb: [1,\nc: 2\n", None, "line 4: invalid YAML"),
    ("a: 1\n  b: 2\n", None, "line 2: invalid YAML: mapping values are not allowed"),
    ("a: 'x\n", None, "invalid YAML"),
    ("a: 1\n---\nb: 2\n", None, "line 2: invalid YAML"),
    ("a: &x 1\nb: *x\n", None, None),
    (f"a: &off false\n{GLOBAL_KEY}: *off\n", False, None),
    (
        f"a: &on 'yes'\n{GLOBAL_KEY}: *on\n",
        None,
        "line 2: telemetry_enabled is not a boolean: 'yes'",
    ),
    (f"{GLOBAL_KEY}: *nope\n", None, "line 1: alias *nope is not defined before it"),
    ("a: \x07\n", None, "line 1: character #x0007 is not allowed"),
    ("<<: {telemetry_enabled: false}\n", False, None),
    (f"<<: {{{GLOBAL_KEY}: false}}\n{GLOBAL_KEY}: true\n", True, None),  # written keys win
    ("<<: 3\n", None, "line 1: a merge key (<<) takes mappings, not 3"),
]


class TestReadGlobal:
    @pytest.mark.parametrize(("text", "value", "error"), GLOBAL_CASES)
    def test_table(self, tmp_path: Path, text: str, value: bool | None, error: str | None) -> None:
        """Each file reads to the expected value or to an error naming the problem."""
        path = write(tmp_path / "config.yml", text)
        reading = read_global(path).reading
        assert reading.location == str(path)
        assert reading.exists
        assert reading.value is value
        if error is None:
            assert reading.error is None
        else:
            assert reading.error is not None
            assert error in reading.error
            assert "\n" not in reading.error
            assert reading.opts_out

    def test_missing_file_says_nothing(self, tmp_path: Path) -> None:
        """A missing file reads as no value, no error, not existing."""
        path = tmp_path / "nope" / "config.yml"
        assert read_global(path) == GlobalSettings(Reading(str(path)))

    def test_endpoint_and_notice(self, tmp_path: Path) -> None:
        """A string endpoint and a true notice flag are returned."""
        text = f"{ENDPOINT_KEY}: https://t.example/v1\n{NOTICE_KEY}: true\n"
        got = read_global(write(tmp_path / "c.yml", text))
        assert got.endpoint == "https://t.example/v1"
        assert got.endpoint_error is None
        assert got.notice_shown is True
        assert got.reading.value is None

    @pytest.mark.parametrize("value", ["3", "[a]", "{a: 1}", "true"])
    def test_non_string_endpoint(self, tmp_path: Path, value: str) -> None:
        """A non-string endpoint is ignored and reported without affecting the reading."""
        got = read_global(write(tmp_path / "c.yml", f"{ENDPOINT_KEY}: {value}\n"))
        assert got.endpoint is None
        assert got.endpoint_error is not None
        assert "line 1: telemetry_endpoint is not a string" in got.endpoint_error
        assert got.reading.error is None

    @pytest.mark.parametrize("value", ["false", "'yes'", "1", ""])
    def test_notice_not_true(self, tmp_path: Path, value: str) -> None:
        """Anything but true means the notice was not shown."""
        got = read_global(write(tmp_path / "c.yml", f"{NOTICE_KEY}: {value}\n"))
        assert got.notice_shown is False
        assert got.reading.error is None


MENTION = f"# {GLOBAL_KEY}: see the docs\n"
PROJECT_CASES = [
    ("", None, None),
    ("name: p\n", None, None),
    ("defaults:\n  source_name: a\n", None, None),
    ("defaults:\n", None, None),
    ("defaults: null\n", None, None),
    (f"defaults:\n  {GLOBAL_KEY}:\n", None, "line 2: telemetry_enabled is not a boolean: null"),
    (f"defaults:\n  {GLOBAL_KEY}: ~\n", None, "line 2: telemetry_enabled is not a boolean: null"),
    (f"base: &b\n  {GLOBAL_KEY}: false\ndefaults: *b\n", False, None),
    (f"base: &b\n  {GLOBAL_KEY}: false\ndefaults:\n  <<: *b\n", False, None),
    ("base: &b\n  x: 1\ndefaults:\n  <<: [*b, {y: 2}]\n  z: *b\n", None, None),
    (f"o: &o false\ndefaults:\n  {GLOBAL_KEY}: *o\n", False, None),
    (f"defaults: *b\n{MENTION}", None, "line 1: alias *b is not defined before it"),
    (f"defaults:\n  {GLOBAL_KEY}: false\n", False, None),
    (f"defaults:\n  {GLOBAL_KEY}: true\n", True, None),
    (f"defaults: {{{GLOBAL_KEY}: false}}\n", False, None),
    (f"{GLOBAL_KEY}: false\n", None, None),  # only defaults.telemetry_enabled counts
    (f"defaults:\n  {GLOBAL_KEY}: off\n", None, "line 2: telemetry_enabled is not a boolean"),
    (f"defaults: 3\n{MENTION}", None, "line 1: defaults is 3, not a mapping"),
    (f"defaults:\n  - a\n{MENTION}", None, "line 2: defaults is a list, not a mapping"),
    (f"defaults: {{}}\ndefaults: {{}}\n{MENTION}", None, "line 2: duplicate key 'defaults'"),
    (f"- a\n{MENTION}", None, "the top level is a list"),
    # Never mentioning the key, even broken, says nothing.
    ("defaults: 3\n", None, None),
    ("- a\n", None, None),
    ("a: [1,\n", None, None),
    ("a: &x 1\nb: *x\ndefaults:\n  - z\n", None, None),
    (f"defaults:\n  {GLOBAL_KEY}: false\nmodels:\n  - name: a\n   sql: x\n", None, "line 5"),
]


class TestReadProject:
    @pytest.mark.parametrize(("text", "value", "error"), PROJECT_CASES)
    def test_table(self, tmp_path: Path, text: str, value: bool | None, error: str | None) -> None:
        """Each project file reads to the expected value or to an error naming the problem."""
        reading = read_project(write(tmp_path / PROJECT_FILE, text))
        assert reading.value is value
        assert reading.exists
        if error is None:
            assert reading.error is None
        else:
            assert reading.error is not None
            assert error in reading.error

    def test_missing(self, tmp_path: Path) -> None:
        """A missing project file says nothing."""
        path = tmp_path / PROJECT_FILE
        assert read_project(path) == Reading(str(path))

    def test_large_realistic_file(self, tmp_path: Path) -> None:
        """A 5,000-line project file with Jinja strings reads its opt-out."""
        path = write(tmp_path / PROJECT_FILE, bench.make_project(5000))
        assert read_project(path) == Reading(str(path), value=False, exists=True)

    def test_error_far_from_defaults_is_reported(self, tmp_path: Path) -> None:
        """A syntax error at the end of a large file is reported with its line number."""
        text = bench.make_project(2000) + "broken: 'unclosed\n"
        reading = read_project(write(tmp_path / PROJECT_FILE, text))
        assert reading.error is not None
        assert reading.error.startswith(f"line {text.count(chr(10)) + 1}: invalid YAML")


class TestUnusualFiles:
    def test_directory(self, tmp_path: Path) -> None:
        """A directory where the file should be is an error."""
        (tmp_path / "config.yml").mkdir()
        reading = read_global(tmp_path / "config.yml").reading
        assert reading.error == "is a directory, not a file"

    def test_parent_is_a_file(self, tmp_path: Path) -> None:
        """A path that cannot be opened (its parent is a file, even for root) is an error."""
        write(tmp_path / ".visivo", "I am a file\n")
        reading = read_global(global_config_path(tmp_path)).reading
        assert reading.error is not None
        assert reading.error.startswith("cannot be read: ")
        assert reading.opts_out

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
    def test_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        """A FIFO is refused at once rather than read (which would block forever)."""
        fifo = tmp_path / PROJECT_FILE
        os.mkfifo(fifo)
        assert read_project(fifo).error == "is not a regular file"

    def test_too_large_is_not_read(self, tmp_path: Path) -> None:
        """A file over MAX_FILE_BYTES is refused from its size alone."""
        path = tmp_path / PROJECT_FILE
        with path.open("wb") as stream:
            stream.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing to read quickly
        reading = read_project(path)
        assert reading.error == f"is larger than {MAX_FILE_BYTES} bytes: not read"

    def test_exactly_max_size_is_read(self, tmp_path: Path) -> None:
        """A file of exactly MAX_FILE_BYTES is still read."""
        head = f"{GLOBAL_KEY}: false\n#"
        path = write(tmp_path / "c.yml", head + "x" * (MAX_FILE_BYTES - len(head)))
        assert read_global(path).reading.value is False

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are an error naming the line."""
        path = write(tmp_path / "c.yml", b"a: 1\nb: caf\xe9\n")
        assert read_global(path).reading.error == "line 2: not valid UTF-8 (byte 0xe9)"

    def test_bom_is_fine(self, tmp_path: Path) -> None:
        """A UTF-8 byte-order mark is accepted."""
        path = write(tmp_path / "c.yml", codecs.BOM_UTF8 + f"{GLOBAL_KEY}: false\n".encode())
        assert read_global(path).reading.value is False

    def test_crlf_is_fine(self, tmp_path: Path) -> None:
        """Windows line endings read the same."""
        path = write(tmp_path / PROJECT_FILE, f"a: 1\r\ndefaults:\r\n  {GLOBAL_KEY}: false\r\n")
        assert read_project(path).value is False

    def test_billion_laughs_is_read_quickly(self, tmp_path: Path) -> None:
        """A file whose aliases would expand exponentially is read without expanding."""
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for n in range(1, 10):
            prev = chr(ord("a") + n - 1)
            lines.append(
                f"{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + prev] * 9)}]"
            )
        text = "\n".join(lines) + f"\ndefaults:\n  {GLOBAL_KEY}: true\n"
        start = time.perf_counter()
        reading = read_project(write(tmp_path / PROJECT_FILE, text))
        assert time.perf_counter() - start < 1.0
        assert reading == Reading(reading.location, value=True, exists=True)


class TestReadingFromValue:
    @pytest.mark.parametrize("value", [True, False])
    def test_bool(self, value: bool) -> None:
        """A boolean the host parsed is taken as is."""
        assert reading_from_value(value, "host") == Reading("host", value=value, exists=True)

    @pytest.mark.parametrize(
        ("value", "shown"), [("no", "'no'"), (0, "0"), (None, "None"), ([False], "a list")]
    )
    def test_other(self, value: object, shown: str) -> None:
        """Anything but a boolean is an error that opts out."""
        reading = reading_from_value(value, "host")
        assert reading.error == f"{GLOBAL_KEY} is not a boolean: {shown} (use true or false)"
        assert reading.opts_out


# ------------------------------------------------------------------ fast path agreement


def fast_answer(text: str) -> Found | GaveUp | str:
    """What the fast path says: what it found, that it gave up, or the error."""
    try:
        return fast_project_value(text)
    except Problem as problem:
        return problem.message


def full_answer(text: str) -> Found | str:
    """What the full ruamel parse says: what it found, or the error."""
    try:
        return project_value(compose(text))
    except Problem as problem:
        return problem.message


_FLAGS = ["true", "false", "True", "FALSE", "null", "~", "", "no", "'false'", "1", "[false]",
          "*tags", "&f false"]  # fmt: skip
_NOISE = [":", " ", "  ", "-", "- ", "'", '"', "#", " #", "[", "{", "}", "&a ", "*a", "!", "|",
          "\t", "\n", "\n  ", "? ", "%", "---\n", "\r", "\\", "@", ",", "  x: 1\n",
          "\n \n", " #\t", "\t#", "\n\t", " \t "]  # fmt: skip


def generated_project(rng: random.Random) -> str:
    """A random project file in the shapes Visivo users write, sometimes broken."""
    text = bench.make_project(
        rng.randint(0, 60),
        seed=rng.randint(0, 10**6),
        flag=rng.choice(_FLAGS),
        indent=rng.choice([2, 4]),
        offset=rng.choice([0, 2, 4]),
        key=rng.choice([GLOBAL_KEY, GLOBAL_KEY, "Telemetry-Enabled", "telemtry_enabled"]),
        aliases=rng.random() < 0.3,
    )
    lines = text.split("\n")
    for _ in range(rng.choice([0, 0, 1, 2])):  # structural edits
        index = rng.randrange(len(lines))
        kind = rng.randrange(5)
        if kind == 0:
            lines.insert(index, rng.choice(["# note", "", "   ", "  # indented note"]))
        elif kind == 1:
            lines[index] = " " * rng.randint(0, 3) + lines[index]
        elif kind == 2:
            lines[index] = lines[index][rng.randint(0, 2) :]
        elif kind == 3:
            lines.insert(index, lines[rng.randrange(len(lines))])
        else:
            del lines[index]
    text = "\n".join(lines)
    for _ in range(rng.choice([0, 0, 1, 2])):  # character noise
        at = rng.randint(0, len(text))
        text = text[:at] + rng.choice(_NOISE) + text[at:]
    if rng.random() < 0.2:
        text = text.replace("\n", "\r\n")
    return text


class TestFastPath:
    def test_answers_for_realistic_files(self) -> None:
        """The fast path answers (does not fall back) for the usual project layouts."""
        for indent in (2, 4):
            for offset in (0, 2, 4):
                text = bench.make_project(300, indent=indent, offset=offset)
                assert fast_project_value(text) == Found(False)

    def test_answers_with_tabs_in_comments_quotes_and_sql(self) -> None:
        """Tabs in comments, quoted strings and block scalars keep the fast path answering."""
        text = bench.make_project(300).replace("# ---", "#\t---").replace("as total", "as\ttotal")
        text = text.replace("'Weekly", "'\tWeekly").replace(
            "telemetry_enabled: false  #", "telemetry_enabled: false #\t"
        )
        assert text.count("\t") > 20
        assert fast_project_value(text) == Found(False)
        assert full_answer(text) == Found(False)

    @pytest.mark.parametrize(
        "text",
        [
            "a: 1\n" * 3,
            "defaults:\n  telemetry_enabled: false\nx: |\n  y\n z: 1\n",
            "defaults:\n  telemetry_enabled: false\nx: a: b\n",
            "defaults:\n  telemetry_enabled: false\nx: [a, b\n",
            "defaults:\n  telemetry_enabled: false\n  telemetry_enabled: true\n",
            "defaults:\n  telemetry_enabled: false\nx: &a 1\ny: *a\n",
            "defaults:\n  telemetry_enabled: false\nx:\n- a\n - b\n",
            "defaults:\n  telemetry_enabled: false\n---\nx: 1\n",
            "defaults:\n  telemetry_enabled: false\nx: 'it''s'\ny: \"a\" b\n",
            "x: ?{ a }\ny: ${ref(m).f}\nz: -1\nw: :x\ndefaults:\n  telemetry_enabled: False\n",
            # ruamel refuses a block scalar whose first blank line is shorter than its text
            "sql: |\n   \n      select 1\ndefaults:\n  telemetry_enabled: true\n",
            "sql: |\n \n\n    select 1\ndefaults:\n  telemetry_enabled: true\n",
        ],
    )
    def test_agrees_on_tricky_files(self, text: str) -> None:
        """On tricky files the fast path either falls back or gives the full parse's answer."""
        fast = fast_answer(text)
        if not isinstance(fast, GaveUp):
            assert full_answer(text) == fast

    @FAST
    @given(st.randoms(use_true_random=False))
    def test_agrees_with_full_parse(self, rng: random.Random) -> None:
        """On generated (often broken) files a fast answer always equals the full parse."""
        text = generated_project(rng)
        fast = fast_answer(text)
        if not isinstance(fast, GaveUp):
            assert full_answer(text) == fast

    def test_falls_back_on_broken_files(self) -> None:
        """Every generated file the full parse rejects makes the fast path fall back or agree."""
        rng = random.Random(7)
        rejected = 0
        for _ in range(150):
            text = generated_project(rng)
            full = full_answer(text)
            if isinstance(full, str):
                rejected += 1
                fast = fast_answer(text)
                assert isinstance(fast, GaveUp) or fast == full, text
        assert rejected > 20

    @pytest.mark.parametrize("value", ["", " # c", " ~", " null", " NULL", " &a"])
    def test_reports_an_empty_flag_itself(self, value: str) -> None:
        """An empty flag in an otherwise valid file is the full parse's error, without it."""
        text = bench.make_project(300, flag="").replace(
            "  alert_name: slack\n", f"  alert_name: slack\n  {GLOBAL_KEY}:{value}\n"
        )
        line = text[: text.index(GLOBAL_KEY)].count("\n") + 1
        assert fast_answer(text) == full_answer(text)
        assert str(fast_answer(text)).startswith(f"line {line}: {GLOBAL_KEY} is not a boolean:")


# ---------------------------------------------------------------------------- editing

# (original, expected after set_global_enabled(False))
GLOBAL_EDITS = [
    ("", f"{GLOBAL_KEY}: false\n"),
    ("# settings\n", f"# settings\n{GLOBAL_KEY}: false\n"),
    ("a: 1", f"a: 1\n{GLOBAL_KEY}: false"),
    ("a: 1\n", f"a: 1\n{GLOBAL_KEY}: false\n"),
    ("a: &x 1\nb: *x\n", f"a: &x 1\nb: *x\n{GLOBAL_KEY}: false\n"),
    ("a: 1\r\nb: 2\r\n", f"a: 1\r\nb: 2\r\n{GLOBAL_KEY}: false\r\n"),
    (f"{GLOBAL_KEY}: true\n", f"{GLOBAL_KEY}: false\n"),
    (f"# c\n{GLOBAL_KEY}: TRUE   # keep\nb: 2\n", f"# c\n{GLOBAL_KEY}: false   # keep\nb: 2\n"),
    (f"{GLOBAL_KEY}: 'no'\n", f"{GLOBAL_KEY}: false\n"),
    (f"{GLOBAL_KEY}:\nb: 2\n", f"{GLOBAL_KEY}: false\nb: 2\n"),
    (f"{GLOBAL_KEY}: [1, 2]\n", f"{GLOBAL_KEY}: false\n"),
    (f"{GLOBAL_KEY}:\n  - 1\n  - 2\n# end\n", f"{GLOBAL_KEY}: false\n# end\n"),
    ("{a: 1}\n", f"{{a: 1, {GLOBAL_KEY}: false}}\n"),
    ("{}\n", f"{{{GLOBAL_KEY}: false}}\n"),
    ("z: 1\n\n# trailing comment\n", f"z: 1\n{GLOBAL_KEY}: false\n\n# trailing comment\n"),
    ("s: |\n  text\n\nk: v\n", f"s: |\n  text\n\nk: v\n{GLOBAL_KEY}: false\n"),
    ("k: 'q'  # q\nl: \"d\"\nf: {x: [1, 2]}\n", f"k: 'q'  # q\nl: \"d\"\nf: {{x: [1, 2]}}\n{GLOBAL_KEY}: false\n"),  # noqa: E501
]  # fmt: skip

# (original, expected after set_project_enabled(False))
PROJECT_EDITS = [
    ("", f"defaults:\n  {GLOBAL_KEY}: false\n"),
    ("name: p\n", f"name: p\ndefaults:\n  {GLOBAL_KEY}: false\n"),
    ("name: p\nm:\n    k: 1\n", f"name: p\nm:\n    k: 1\ndefaults:\n    {GLOBAL_KEY}: false\n"),
    ("defaults:\n  a: 1\n\n# Sources\ns: 1\n", f"defaults:\n  a: 1\n  {GLOBAL_KEY}: false\n\n# Sources\ns: 1\n"),  # noqa: E501
    ("defaults:\n    a: 1\ns: 1", f"defaults:\n    a: 1\n    {GLOBAL_KEY}: false\ns: 1"),
    (f"defaults:\n  {GLOBAL_KEY}: true # x\n  b: 1\n", f"defaults:\n  {GLOBAL_KEY}: false # x\n  b: 1\n"),  # noqa: E501
    ("defaults:\ns: 1\n", f"defaults:\n  {GLOBAL_KEY}: false\ns: 1\n"),
    ("defaults: # d\ns: 1\n", f"defaults: # d\n  {GLOBAL_KEY}: false\ns: 1\n"),
    ("defaults: ~\n", f"defaults: {{{GLOBAL_KEY}: false}}\n"),
    ("defaults: {x: 1}\n", f"defaults: {{x: 1, {GLOBAL_KEY}: false}}\n"),
    ("defaults: {x: 1, }\n", f"defaults: {{x: 1, {GLOBAL_KEY}: false }}\n"),
    (f"defaults: {{{GLOBAL_KEY}: true}}\n", f"defaults: {{{GLOBAL_KEY}: false}}\n"),
    ("defaults:\n  a:\n  - 1\n  - 2\n", f"defaults:\n  a:\n  - 1\n  - 2\n  {GLOBAL_KEY}: false\n"),
    ("s:\n    - name: a\n      x: 1\n", f"s:\n    - name: a\n      x: 1\ndefaults:\n  {GLOBAL_KEY}: false\n"),  # noqa: E501
    ("\ufeffname: p\r\n", f"\ufeffname: p\r\ndefaults:\r\n  {GLOBAL_KEY}: false\r\n"),
]  # fmt: skip


class TestEditing:
    @pytest.mark.parametrize(("before", "after"), GLOBAL_EDITS)
    def test_global_edits(self, tmp_path: Path, before: str, after: str) -> None:
        """Disabling globally changes or adds only the key's line, byte for byte."""
        path = write(tmp_path / "config.yml", before)
        set_global_enabled(path, False)
        assert path.read_bytes().decode() == after
        assert read_global(path).reading.value is False

    @pytest.mark.parametrize(("before", "after"), PROJECT_EDITS)
    def test_project_edits(self, tmp_path: Path, before: str, after: str) -> None:
        """Disabling in a project changes or adds only defaults.telemetry_enabled."""
        path = write(tmp_path / PROJECT_FILE, before.encode("utf-8"))
        set_project_enabled(path, False)
        assert path.read_bytes().decode("utf-8") == after
        assert read_project(path).value is False

    def test_enable_after_disable(self, tmp_path: Path) -> None:
        """Enabling turns the same token back to true."""
        path = write(tmp_path / "config.yml", "a: 1\n")
        set_global_enabled(path, False)
        set_global_enabled(path, True)
        assert path.read_text() == f"a: 1\n{GLOBAL_KEY}: true\n"

    def test_creates_private_folder(self, tmp_path: Path) -> None:
        """A missing ~/.visivo is created with mode 0700 and the file with the key."""
        path = global_config_path(tmp_path)
        set_global_enabled(path, False)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text() == f"{GLOBAL_KEY}: false\n"

    def test_mark_notice_shown(self, tmp_path: Path) -> None:
        """Marking the notice adds telemetry_notice_shown: true and keeps the rest."""
        path = write(tmp_path / "config.yml", f"{GLOBAL_KEY}: false\n")
        mark_notice_shown(path)
        assert path.read_text() == f"{GLOBAL_KEY}: false\n{NOTICE_KEY}: true\n"
        assert read_global(path).notice_shown is True

    def test_no_change_no_write(self, tmp_path: Path) -> None:
        """Setting the value the file already has leaves the file untouched."""
        path = write(tmp_path / "config.yml", f"{GLOBAL_KEY}: false\n")
        os.utime(path, ns=(0, 0))
        set_global_enabled(path, False)
        assert path.stat().st_mtime_ns == 0

    def test_symlink_target_is_edited(self, tmp_path: Path) -> None:
        """A symlinked config (dotfiles) keeps its link; the target file is edited."""
        target = write(tmp_path / "real.yml", "a: 1\n")
        link = tmp_path / "config.yml"
        link.symlink_to(target)
        set_global_enabled(link, False)
        assert link.is_symlink()
        assert target.read_text() == f"a: 1\n{GLOBAL_KEY}: false\n"


BROKEN = [
    ("a: [1,\n", "line 2: invalid YAML"),
    ("- a\n", "line 1: the top level is a list, not a mapping"),
    (b"a: \xff\n", "line 1: not valid UTF-8"),
    ("# c\n|\n  text\n", "line 2: the top level is 'text\\n', not a mapping"),
    ("# c\n| # k\n  text\n", "invalid YAML: the YAML parser failed (AssertionError)"),
]


class TestAtomicity:
    @pytest.mark.parametrize(("content", "message"), BROKEN)
    def test_unparseable_file_untouched(
        self, tmp_path: Path, content: str | bytes, message: str
    ) -> None:
        """A file that cannot be read is never rewritten, and the error names file and line."""
        path = write(tmp_path / "config.yml", content)
        before = path.read_bytes()
        with pytest.raises(SettingsError) as caught:
            set_global_enabled(path, False)
        assert path.read_bytes() == before
        assert str(caught.value).startswith(f"{path}: {message}")
        assert "\n" not in str(caught.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml"]

    @pytest.mark.parametrize(
        "text", ["defaults: 3\n", "defaults:\n  - x\n", "defaults: {}\ndefaults: {}\n"]
    )
    def test_bad_defaults_untouched(self, tmp_path: Path, text: str) -> None:
        """A project whose defaults is not a single mapping is not edited."""
        path = write(tmp_path / PROJECT_FILE, text)
        with pytest.raises(SettingsError, match=r"line \d+: "):
            set_project_enabled(path, False)
        assert path.read_text() == text

    def test_mode_kept_and_no_temp_left(self, tmp_path: Path) -> None:
        """The replaced file keeps its mode and no temporary file is left behind."""
        path = write(tmp_path / PROJECT_FILE, "name: p\n")
        path.chmod(0o640)
        set_project_enabled(path, False)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert [p.name for p in tmp_path.iterdir()] == [PROJECT_FILE]

    def test_write_failure_leaves_nothing(self, tmp_path: Path) -> None:
        """When the new file cannot be put in place, the error is clean and no temp remains."""
        path = tmp_path / "config.yml"
        path.mkdir()  # os.replace of a file onto a directory fails, even for root
        with pytest.raises(SettingsError, match="is a directory"):
            set_global_enabled(path, False)
        assert [p.name for p in tmp_path.iterdir()] == ["config.yml"]

    def test_missing_project_dir(self, tmp_path: Path) -> None:
        """A project directory that does not exist is an error, not created."""
        path = tmp_path / "nope" / PROJECT_FILE
        with pytest.raises(SettingsError, match="cannot write"):
            set_project_enabled(path, False)
        assert not path.parent.exists()


def only_key_lines_changed(before: str, after: str) -> None:
    """Assert that ``after`` is ``before`` plus/with only telemetry or defaults lines."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            continue
        assert all(GLOBAL_KEY in line for line in old[a1:a2]), (op, old[a1:a2])
        assert all(GLOBAL_KEY in line or line == "defaults:" for line in new[b1:b2])
    if before:
        assert before.endswith("\n") == after.endswith("\n")
    if "\r\n" in before:
        assert after.count("\n") == after.count("\r\n")


class TestRoundTripProperty:
    @hsettings(FAST, max_examples=40)
    @given(st.randoms(use_true_random=False), st.booleans(), st.booleans())
    def test_disable_then_enable_keeps_other_lines(
        self, tmp_path_factory: pytest.TempPathFactory, rng: random.Random, bom: bool, eol: bool
    ) -> None:
        """Disabling then enabling a project keeps every other line byte-identical."""
        text = bench.make_project(
            rng.randint(0, 24),
            seed=rng.randint(0, 1000),
            flag=rng.choice(["", "true", "false", "'no'"]),
            indent=rng.choice([2, 4]),
            offset=rng.choice([0, 2, 4]),
            aliases=rng.random() < 0.3,
        )
        if rng.random() < 0.3:
            text = text.replace("\n", "\r\n")
        if not eol:
            text = text.rstrip("\r\n")
        path = tmp_path_factory.mktemp("p") / PROJECT_FILE
        write(path, (codecs.BOM_UTF8 if bom else b"") + text.encode())
        set_project_enabled(path, False)
        assert read_project(path).value is False
        set_project_enabled(path, True)
        assert read_project(path).value is True
        raw = path.read_bytes()
        assert raw.startswith(codecs.BOM_UTF8) == bom
        only_key_lines_changed(text, raw.decode("utf-8-sig"))
