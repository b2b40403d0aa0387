"""Endpoint templating: only fixed route words survive."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.limits import (
    ENDPOINT_MAX_LENGTH,
    ENDPOINT_PATTERN,
    HTTP_METHODS,
    OTHER_METHOD,
)
from visivo.telemetry.policy.routes import (
    ID_PLACEHOLDER,
    MAX_SEGMENTS,
    normalize_method,
    template_path,
    template_rule,
)

# The URL rules of Visivo 2.2.1's Flask app: rule, endpoint and methods, read from it.
VISIVO_RULES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "data" / "visivo-2.2.1-url-rules.json").read_text("utf-8")
)
# A werkzeug rule variable, as Visivo writes them.
_VARIABLE = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_][a-z0-9_]*)>")


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
            ("/x/prefix<int:id>", "/x/prefix{id}"),
            ("/api/dashboards/<dashboard_name>.png/", "/api/dashboards/{dashboard_name}.png"),
            ("/api/<a>-<int:b>.tar.gz", "/api/{a}-{b}.tar.gz"),
            ("/x/<name>.PNG", "/x/" + ID_PLACEHOLDER),
            ("/x/<name>.9f86d081884c7d65", "/x/" + ID_PLACEHOLDER),
            ("/x/<name>zqabcdefghijklmnopqrstuvwxyz", "/x/" + ID_PLACEHOLDER),
            ("/x/<Bad-Name>.png", "/x/{id}.png"),
            ("/", "/"),
        ],
    )
    def test_table(self, rule: str, expected: str) -> None:
        """Variables become {name} and route-word text beside them stays; the rest is {id}."""
        assert template_rule(rule) == expected

    def test_visivo_rules_table_is_complete(self) -> None:
        """The copied table holds Visivo 2.2.1's 150 URL rules."""
        assert len(VISIVO_RULES) == 150
        assert {"/api/dashboards/<dashboard_name>.png/", "/data/<path:filename>"} <= {
            row["rule"] for row in VISIVO_RULES
        }

    @pytest.mark.parametrize("rule", sorted({row["rule"] for row in VISIVO_RULES}))
    def test_visivo_rules_keep_their_text(self, rule: str) -> None:
        """Each Visivo rule keeps every literal text; each variable becomes its {name}."""
        expected = _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", rule).rstrip("/") or "/"
        template = template_rule(rule)
        assert template == expected
        assert re.fullmatch(ENDPOINT_PATTERN, template)


class TestNormalizeMethod:
    @pytest.mark.parametrize("method", sorted(HTTP_METHODS))
    def test_standard_methods_kept(self, method: str) -> None:
        """Standard methods are kept, upper-cased."""
        assert normalize_method(method.lower()) == method

    @pytest.mark.parametrize("method", ["PROPFIND", "", "GET /etc/passwd", None, 7])
    def test_others(self, method: object) -> None:
        """Anything else is OTHER."""
        assert normalize_method(method) == OTHER_METHOD
