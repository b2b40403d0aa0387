"""Table tests for the policy rules that keep user data out of endpoints, error types and
stripped-keyword notices."""

from __future__ import annotations

import pytest

from visivo.telemetry.policy.routes import (
    ID_PLACEHOLDER,
    ROUTE_WORDS,
    STATIC_EXTENSIONS,
    template_path,
    template_rule,
)
from visivo.telemetry.policy.scrub import NON_IDENTIFIER, scrub_command, scrub_request


class ModuleLevelError(Exception):
    """An exception class written in this module."""


class Outer:
    class NestedError(Exception):
        """An exception class written inside a class."""


def _local_error_class() -> type[Exception]:
    class LocalError(Exception):
        pass

    return LocalError


class TestTemplatePath:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/api/project/42", "/api/project/{id}"),
            ("/static/main.js", "/static/main.js"),
            ("/favicon.ico", "/favicon.ico"),
            ("/api/v1/dashboards?name=sales", "/api/v1/dashboards"),
            ("/", "/"),
            ("//api//project//", "/api/project"),
            ("/project/zqabcdefghij", "/project/{id}"),
            ("/dashboard/sales-overview", "/dashboard/{id}"),
            ("/data/revenue.json", "/data/{id}"),
            ("/home/alice/report.sql", "/{id}/{id}/{id}"),
            ("/static/app.3f9a2b1c.js", "/static/{id}"),
            ("/api/user/alice@example.com", "/api/{id}/{id}"),
        ],
    )
    def test_only_route_words_survive(self, path: str, expected: str) -> None:
        """A raw path keeps only route words, versions and static files; the rest is {id}."""
        assert template_path(path) == expected

    def test_vocabulary_is_plain_words(self) -> None:
        """Every kept word and extension is lowercase ASCII, so the vocabulary cannot hold data."""
        for word in ROUTE_WORDS | STATIC_EXTENSIONS:
            assert word.isascii()
            assert word.isalnum()
            assert word == word.lower()

    def test_unknown_lowercase_word_becomes_id(self) -> None:
        """A plain lowercase word that is not a route word is treated as data (a project name)."""
        assert template_path("/zqmarkerword") == "/" + ID_PLACEHOLDER


class TestTemplateRule:
    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            ("/api/project/<int:project_id>", "/api/project/{project_id}"),
            ("/static/<path:filename>", "/static/{filename}"),
            ("/api/reports/<name>", "/api/reports/{name}"),
            ("/api/user/<user_id>/", "/api/user/{user_id}"),
        ],
    )
    def test_rule_words_are_kept(self, rule: str, expected: str) -> None:
        """A router rule's fixed words are code and survive; its variables become placeholders."""
        assert template_rule(rule) == expected


class TestErrorType:
    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (ValueError("secret"), "ValueError"),
            (KeyboardInterrupt(), "KeyboardInterrupt"),
            (ModuleLevelError("x"), "ModuleLevelError"),
            (Outer.NestedError("x"), "NestedError"),
            (_local_error_class()("x"), "LocalError"),
            (type("Xk9zqsecretname", (ValueError,), {})("x"), "ValueError"),
            (type("Customer_alice", (ModuleLevelError,), {})(), "ModuleLevelError"),
            (KeyError, "KeyError"),
        ],
    )
    def test_class_statement_names_only(self, error: object, expected: str) -> None:
        """error_type is the nearest class from a class statement; run-time classes give a base."""
        assert scrub_command({"command": "run", "error": error}).properties.error_type == expected

    def test_renamed_class_is_not_trusted(self) -> None:
        """A class whose __name__ was changed after creation is reported as its base."""
        cls = _local_error_class()
        cls.__name__ = "zqrenamed"
        assert scrub_command({"command": "run", "error": cls()}).properties.error_type == (
            "Exception"
        )


class TestStrippedNames:
    def test_identifier_names_are_reported(self) -> None:
        """Unknown keyword names that are identifiers are reported, sorted, without values."""
        scrubbed = scrub_request({"method": "GET", "path": "/", "user": "a", "sql": "b"})
        assert scrubbed.stripped == ("sql", "user")

    def test_non_identifier_names_are_masked(self) -> None:
        """A keyword name that is not an identifier (data spread with **) is never shown."""
        payload = {"command": "run", "/home/alice/x.csv": 1, "bob@example.com": 2, "ok": 3}
        assert scrub_command(payload).stripped == ("ok", NON_IDENTIFIER)


class TestNotARule:
    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            ("postgres://admin:pw@db.internal:5432/sales", "/{id}/{id}/{id}"),
            ("https://example.com/dashboard/sales", "/{id}/{id}/dashboard/{id}"),
            ("reports/sales", "/{id}/{id}"),
            ("/api/sales?token=abc", "/api/{id}"),
            ("/home/alice smith/x", "/{id}/{id}/{id}"),
            ("/api/user/alice@example.com", "/api/{id}/{id}"),
        ],
    )
    def test_non_rules_are_templated_as_paths(self, rule: str, expected: str) -> None:
        """Text that cannot be a router rule is templated as a raw path, keeping no user words."""
        assert template_rule(rule) == expected
