"""One test per item of docs/telemetry.md's "never collected" list: each kind of data is
sent under every keyword of every signal (and unknown ones) and must not leave."""

from __future__ import annotations

import re

from tests.telemetry.leakkit import SIGNALS, Pipeline, carried, send_each, values_for

MARK = "zqneverleaves"
# A router rule's fixed words are code, so "/dashboard/zq..." under `route` is kept by
# design (see test_leaks.test_identifier_fields); such samples go through every other
# keyword, including `path`, where they must not survive.
_RULE_SHAPED = re.compile(r"(/[a-z][a-z0-9._-]*)+")


def assert_never_sent(pipeline: Pipeline, samples: list[str]) -> None:
    """Send every sample under every keyword; no sample's marker may come out."""
    for sample in samples:
        assert MARK in sample.lower()
        for signal_name, (_, keywords, _) in SIGNALS.items():
            for keyword in (*keywords, "payload"):
                if keyword == "route" and _RULE_SHAPED.fullmatch(sample):
                    continue
                sent = send_each(signal_name, keyword, values_for(keyword, sample, MARK))
                wire, seen = pipeline.deliver()
                assert carried(wire) == sent
                assert MARK not in seen, (signal_name, keyword, sample)


def test_personal_information(pipeline: Pipeline) -> None:
    """E-mail addresses, full names and user names are never sent."""
    assert_never_sent(
        pipeline,
        [f"{MARK}@example.com", f"Jane {MARK.title()} <j@x.io>", f"user={MARK}", f"~{MARK}/"],
    )


def test_file_contents(pipeline: Pipeline) -> None:
    """The contents of project and data files are never sent."""
    assert_never_sent(pipeline, [f"name: {MARK}\ndashboards: []\n", f"id,name\n1,{MARK}\n"])


def test_sql(pipeline: Pipeline) -> None:
    """SQL text is never sent."""
    assert_never_sent(pipeline, [f"SELECT * FROM {MARK} WHERE x = 1;", f"drop table {MARK};"])


def test_query_results(pipeline: Pipeline) -> None:
    """Rows returned by queries are never sent."""
    assert_never_sent(pipeline, [f'[{{"customer": "{MARK}", "total": 12.5}}]', f"({MARK}, 3)"])


def test_project_names_and_data(pipeline: Pipeline) -> None:
    """Project, dashboard and chart names are never sent, even inside request paths."""
    assert_never_sent(
        pipeline,
        [f"/dashboard/{MARK}", f"/project/{MARK}/chart/{MARK}-q3", f"Revenue of {MARK}, Q3"],
    )


def test_environment_variables(pipeline: Pipeline) -> None:
    """Environment variable names and values are never sent."""
    assert_never_sent(pipeline, [f"{MARK.upper()}_PASSWORD=hunter2", f"PATH=/opt/{MARK}/bin"])


def test_ip_addresses_and_host_names(pipeline: Pipeline) -> None:
    """IP addresses and host names are never sent."""
    assert_never_sent(pipeline, [f"192.168.1.20 {MARK}", f"{MARK}-laptop.local", f"fe80::1%{MARK}"])


def test_error_messages_and_stack_traces(pipeline: Pipeline) -> None:
    """Exception messages, notes, causes and tracebacks are never sent."""
    assert_never_sent(
        pipeline,
        [
            f"could not connect to {MARK}",
            f'Traceback (most recent call last):\n  File "/srv/{MARK}.py", line 1\nKeyError: x',
        ],
    )


def test_file_paths(pipeline: Pipeline) -> None:
    """File and directory paths are never sent."""
    assert_never_sent(pipeline, [f"/home/{MARK}/project.visivo.yml", f"C:\\{MARK}\\data.csv"])


def test_query_strings(pipeline: Pipeline) -> None:
    """URL query strings and fragments are never sent."""
    assert_never_sent(pipeline, [f"/api/project?token={MARK}", f"/dashboard#{MARK}"])
