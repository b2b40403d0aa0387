"""Endpoint templating: only fixed route words survive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.policy.routes import (
    ID_PLACEHOLDER,
    MAX_SEGMENTS,
    normalize_method,
    template_path,
    template_rule,
)
from visivo.telemetry.schema import ENDPOINT_MAX_LENGTH, HTTP_METHODS, OTHER_METHOD


class TestTemplatePath:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/api/project/42", "/api/project/{id}"),
            ("/api/project/42?token=abc#frag", "/api/project/{id}"),
            ("/api/550e8400-e29b-41d4-a716-446655440000", "/api/{id}"),
            ("/api/deadbeefcafe", "/api/{id}"),
            ("/api/dGhpcyBpcyBhIHRva2Vu", "/api/{id}"),
            ("/api/jane.doe@example.com/charts", "/api/{id}/charts"),
            ("/files/%2e%2e/%2fetc", "/files/{id}/{id}"),
            ("/../api", "/{id}/api"),
            ("/café/charts", "/{id}/charts"),
            ("/static/main.js", "/static/main.js"),
            ("/static/secret-notes.txt", "/static/{id}"),
            ("/api/v1/traces", "/api/v1/traces"),
            ("//api///project//", "/api/project"),
            ("", "/"),
            ("/", "/"),
            ("/API", "/{id}"),
            ("/dashboard/sales-q3", "/dashboard/{id}"),
            ("/home/alice/reports", "/{id}/{id}/{id}"),
        ],
    )
    def test_table(self, path: str, expected: str) -> None:
        """Only route words survive; ids, tokens, e-mails, names and odd text become {id}."""
        assert template_path(path) == expected

    def test_deep_paths_are_cut(self) -> None:
        """Paths deeper than MAX_SEGMENTS keep that many segments and end in {...}."""
        result = template_path("/api" * (MAX_SEGMENTS + 5))
        assert result.count("/") == MAX_SEGMENTS + 1
        assert result.endswith("{...}")

    @given(st.text(max_size=3000))
    def test_any_path_gives_a_bounded_template(self, path: str) -> None:
        """Whatever the input, the template starts with / and respects the length cap."""
        result = template_path(path)
        assert result.startswith("/")
        assert len(result) <= ENDPOINT_MAX_LENGTH
        assert "?" not in result


class TestTemplateRule:
    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            ("/api/project/<int:project_id>", "/api/project/{project_id}"),
            ("/api/<project_id>/charts", "/api/{project_id}/charts"),
            ("/files/<path:filename>", "/files/{filename}"),
            ('/r/<re("[a-z]+"):slug>', "/r/{slug}"),
            ("/x/<Bad-Name>", "/x/" + ID_PLACEHOLDER),
            ("/x/prefix<int:id>", "/x/" + ID_PLACEHOLDER),
            ("/", "/"),
        ],
    )
    def test_table(self, rule: str, expected: str) -> None:
        """Rule variables become {name}; odd variables and mixed segments become {id}."""
        assert template_rule(rule) == expected


class TestNormalizeMethod:
    @pytest.mark.parametrize("method", sorted(HTTP_METHODS))
    def test_standard_methods_kept(self, method: str) -> None:
        """Standard methods are kept, upper-cased."""
        assert normalize_method(method.lower()) == method

    @pytest.mark.parametrize("method", ["PROPFIND", "", "GET /etc/passwd", None, 7])
    def test_others(self, method: object) -> None:
        """Anything else is OTHER."""
        assert normalize_method(method) == OTHER_METHOD
