"""The opt-out decision: sticky opt-out, fail closed, precedence picks who decided."""

from __future__ import annotations

import itertools

import pytest

from visivo.telemetry.policy.optout import (
    DISABLED_ENV,
    DO_NOT_TRACK_ENV,
    Reading,
    decide,
    read_disabled_env,
    read_do_not_track,
)


class TestEnvironment:
    @pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
    def test_disabling_values(self, value: str) -> None:
        """1/true/yes/on (any case, padded) disable."""
        report = read_disabled_env({DISABLED_ENV: value})
        assert report.opts_out
        assert report.error is None

    @pytest.mark.parametrize("value", ["0", "false", "no", "off", "", "OFF"])
    def test_neutral_values(self, value: str) -> None:
        """0/false/no/off/"" say nothing."""
        report = read_disabled_env({DISABLED_ENV: value})
        assert not report.opts_out
        assert report.error is None

    @pytest.mark.parametrize("value", ["2", "disable", "nope", "ja"])
    def test_unrecognised_values_disable_and_say_so(self, value: str) -> None:
        """Anything else disables and is reported as unrecognised."""
        report = read_disabled_env({DISABLED_ENV: value})
        assert report.opts_out
        assert report.error is not None
        assert "unrecognised" in report.error

    @pytest.mark.parametrize(
        ("value", "opts_out"),
        [
            ("1", True),
            ("true", True),
            ("yes", True),
            ("anything", True),
            ("", False),
            ("0", False),
            ("false", False),
            ("FALSE", False),
        ],
    )
    def test_do_not_track(self, value: str, opts_out: bool) -> None:
        """DO_NOT_TRACK disables for any value but "", 0 and false."""
        assert read_do_not_track({DO_NOT_TRACK_ENV: value}).opts_out is opts_out

    def test_unset_says_nothing(self) -> None:
        """With no variables, telemetry is on by default."""
        decision = decide({})
        assert decision.enabled
        assert decision.decided_by == "default"


ENV_VALUES = {"unset": None, "disabling": "1", "neutral": "0", "unrecognised": "maybe"}
DNT_VALUES = {"unset": None, "set": "1", "neutral": "0"}
FILE_STATES = {
    "absent": Reading("f"),
    "true": Reading("f", value=True, exists=True),
    "false": Reading("f", value=False, exists=True),
    "broken": Reading("f", error="line 2: mapping values are not allowed here", exists=True),
}


def expected(env: str, dnt: str, project: str, global_: str) -> tuple[bool, str]:
    """The rule, written independently of decide(): first opting-out source in order."""
    opting_out = [
        (env in ("disabling", "unrecognised"), "VISIVO_TELEMETRY_DISABLED"),
        (dnt == "set", "DO_NOT_TRACK"),
        (project in ("false", "broken"), "project"),
        (global_ in ("false", "broken"), "global"),
    ]
    for opts_out, name in opting_out:
        if opts_out:
            return False, name
    return True, "default"


@pytest.mark.parametrize(
    ("env", "dnt", "project", "global_"),
    list(itertools.product(ENV_VALUES, DNT_VALUES, FILE_STATES, FILE_STATES)),
)
def test_truth_table(env: str, dnt: str, project: str, global_: str) -> None:
    """Every combination of sources gives the sticky, fail-closed decision."""
    environ = {}
    if ENV_VALUES[env] is not None:
        environ[DISABLED_ENV] = ENV_VALUES[env]
    if DNT_VALUES[dnt] is not None:
        environ[DO_NOT_TRACK_ENV] = DNT_VALUES[dnt]
    decision = decide(environ, FILE_STATES[project], FILE_STATES[global_])
    assert (decision.enabled, decision.decided_by) == expected(env, dnt, project, global_)
    assert [s.name for s in decision.sources] == [
        "VISIVO_TELEMETRY_DISABLED",
        "DO_NOT_TRACK",
        "project",
        "global",
    ]


def test_enabled_project_never_overrides_global_opt_out() -> None:
    """A cloned project saying true cannot switch a user's global opt-out back on."""
    decision = decide({}, Reading("p", value=True), Reading("g", value=False))
    assert not decision.enabled
    assert decision.decided_by == "global"


def test_neutral_env_never_overrides_file_opt_out() -> None:
    """VISIVO_TELEMETRY_DISABLED=0 does not switch a file's opt-out back on."""
    decision = decide({DISABLED_ENV: "0"}, Reading("p", value=False), None)
    assert not decision.enabled
    assert decision.decided_by == "project"


def test_errors_are_reported() -> None:
    """A broken file's problem is in the decision for status to show."""
    decision = decide({}, None, FILE_STATES["broken"])
    assert decision.source("global").error == "line 2: mapping values are not allowed here"
