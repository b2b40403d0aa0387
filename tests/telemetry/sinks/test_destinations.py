"""Each network sink's destination from the environment: plain data, table tests."""

from __future__ import annotations

import pytest

from visivo.telemetry.sinks.network.destinations import (
    DEFAULT_OTLP_ENDPOINT,
    DEFAULT_POSTHOG_HOST,
    DEFAULT_POSTHOG_KEY,
    NO_ENDPOINT,
    RESERVED_HEADERS,
    http_destination,
    otlp_destination,
    parse_otlp_headers,
    posthog_destination,
)
from visivo.telemetry.sinks.network.endpoint import redact

H = "VISIVO_POSTHOG_HOST"
K = "VISIVO_POSTHOG_API_KEY"


class TestPostHog:
    @pytest.mark.parametrize(
        ("host", "url", "source"),
        [
            (None, f"{DEFAULT_POSTHOG_HOST}/batch/", "default"),
            ("", f"{DEFAULT_POSTHOG_HOST}/batch/", "default"),
            ("  ", f"{DEFAULT_POSTHOG_HOST}/batch/", "default"),
            ("https://app.posthog.com", "https://us.i.posthog.com/batch/", H),
            ("https://us.posthog.com/", "https://us.i.posthog.com/batch/", H),
            ("https://eu.posthog.com", "https://eu.i.posthog.com/batch/", H),
            ("https://eu.i.posthog.com", "https://eu.i.posthog.com/batch/", H),
            ("http://h/ph/", "http://h/ph/batch/", H),
            ("http://h/ph///", "http://h/ph/batch/", H),
            (" https://ph.example.com ", "https://ph.example.com/batch/", H),
        ],
    )
    def test_host_rules(self, host: str | None, url: str, source: str) -> None:
        """Trimmed; empty means the default; cloud aliases mapped; trailing slashes removed."""
        env = {} if host is None else {H: host}
        destination = posthog_destination(env)
        assert (destination.url, destination.source, destination.problem) == (url, source, None)
        assert destination.api_key == DEFAULT_POSTHOG_KEY

    @pytest.mark.parametrize(
        ("host", "problem"),
        [
            ("ftp://h", "http:// or https://"),
            ("https://u:secret@h", "credentials"),
            ("https://h/#x", "fragment"),
            ("https://h/?x=1", "query"),
            ("https://h?", "query"),
        ],
    )
    def test_unusable_host_makes_it_inert(self, host: str, problem: str) -> None:
        """A bad host is a problem naming the variable (never the URL); no fallback."""
        destination = posthog_destination({H: host})
        assert destination.problem is not None
        assert problem in destination.problem
        assert destination.problem.startswith(H)
        assert "secret" not in destination.problem

    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("", "blank"),
            ("   ", "blank"),
            ("phc_" + "x" * 61, "longer than 64"),
            ("phc_é", "ASCII"),
            ("phc_a b", "whitespace"),
            ("phc_a\x01", "control"),
            ("phx_personal", "personal key (phx_…), not a project key"),
        ],
    )
    def test_unusable_key_makes_it_inert(self, key: str, problem: str) -> None:
        """A set but unusable key is a problem naming the variable; never the key itself."""
        destination = posthog_destination({K: key})
        assert destination.problem is not None
        assert problem in destination.problem
        assert destination.problem.startswith(K)
        if key.strip():
            assert key.strip() not in destination.problem

    def test_own_key_is_used_trimmed(self) -> None:
        """A team's own project key replaces Visivo's."""
        assert posthog_destination({K: " phc_team "}).api_key == "phc_team"

    def test_key_is_never_shown(self) -> None:
        """Neither repr nor the status report holds the key."""
        destination = posthog_destination({K: "phc_secretkey"})
        assert "phc_secretkey" not in repr(destination)
        assert "phc_secretkey" not in str(destination.report())


G = "OTEL_EXPORTER_OTLP_"
OL = "OTEL_EXPORTER_OTLP_LOGS_"


class TestOtlp:
    @pytest.mark.parametrize(
        ("env", "url", "source"),
        [
            ({}, DEFAULT_OTLP_ENDPOINT, "default"),
            ({G + "ENDPOINT": "http://c:4318"}, "http://c:4318/v1/logs", G + "ENDPOINT"),
            ({G + "ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/logs", G + "ENDPOINT"),
            ({G + "ENDPOINT": "http://c:4318/otel"}, "http://c:4318/otel/v1/logs", G + "ENDPOINT"),
            ({G + "ENDPOINT": "http://c:4318/otel/"}, "http://c:4318/otel/v1/logs", G + "ENDPOINT"),
            ({OL + "ENDPOINT": "http://c:4318/custom"}, "http://c:4318/custom", OL + "ENDPOINT"),
            ({OL + "ENDPOINT": "http://c:4318"}, "http://c:4318/", OL + "ENDPOINT"),
            ({OL + "ENDPOINT": " ", G + "ENDPOINT": "http://c"}, "http://c/v1/logs", G + "ENDPOINT"),  # noqa: E501
            ({OL + "ENDPOINT": "http://l/x", G + "ENDPOINT": "http://c"}, "http://l/x", OL + "ENDPOINT"),  # noqa: E501
        ],
    )  # fmt: skip
    def test_endpoint_rules(self, env: dict[str, str], url: str, source: str) -> None:
        """The logs variable as is; the generic one plus v1/logs; else localhost:4318."""
        destination = otlp_destination(env)
        assert (destination.url, destination.source, destination.problem) == (url, source, None)

    @pytest.mark.parametrize(
        "env",
        [
            {OL + "ENDPOINT": "http://u:pw@c/v1/logs", G + "ENDPOINT": "http://ok"},
            {G + "ENDPOINT": "not a url"},
            {OL + "ENDPOINT": "ftp://c"},
        ],
    )
    def test_unusable_endpoint_never_falls_back(self, env: dict[str, str]) -> None:
        """A set but unusable variable makes the sink inert, naming that variable."""
        destination = otlp_destination(env)
        assert destination.problem is not None
        assert destination.problem.startswith(next(iter(env)))
        assert "pw" not in str(destination.report())

    @pytest.mark.parametrize(
        ("value", "headers"),
        [
            ("", {}),
            ("a=1", {"a": "1"}),
            (" a = 1 , b=2", {"a": "1", "b": "2"}),
            ("api-key=s%20e%3Dcret", {"api-key": "s e=cret"}),
            ("Authorization=Bearer%20x", {"Authorization": "Bearer x"}),
            ("novalue,x=1", {"x": "1"}),
            ("bad key=1,ok=2", {"ok": "2"}),
            ("a=%0d%0aInjected: 1", {}),
            ("=empty", {}),
            ("a=b=c", {"a": "b=c"}),
            *[(f"{name}=x", {}) for name in sorted(RESERVED_HEADERS)],
            ("Content-Type=text/plain", {}),
        ],
    )
    def test_headers(self, value: str, headers: dict[str, str]) -> None:
        """key=value pairs, trimmed, percent-decoded; invalid or reserved keys skipped."""
        assert parse_otlp_headers(value) == headers

    def test_logs_headers_win_and_are_never_merged(self) -> None:
        """The logs-specific headers replace the generic ones entirely."""
        env = {OL + "HEADERS": "a=1", G + "HEADERS": "b=2"}
        assert otlp_destination(env).headers == {"a": "1"}
        assert otlp_destination({OL + "HEADERS": " ", G + "HEADERS": "b=2"}).headers == {"b": "2"}

    @pytest.mark.parametrize(
        ("env", "compression"),
        [
            ({}, "auto"),
            ({G + "COMPRESSION": "gzip"}, "gzip"),
            ({G + "COMPRESSION": " GZIP "}, "gzip"),
            ({G + "COMPRESSION": "none"}, "none"),
            ({G + "COMPRESSION": "zstd"}, "auto"),
            ({OL + "COMPRESSION": "none", G + "COMPRESSION": "gzip"}, "none"),
        ],
    )
    def test_compression(self, env: dict[str, str], compression: str) -> None:
        """gzip: always; none: never; anything else: gzip above 1 KiB."""
        assert otlp_destination(env).compression == compression

    @pytest.mark.parametrize(
        ("env", "timeout"),
        [
            ({}, 1.0),
            ({G + "TIMEOUT": "250"}, 0.25),
            ({G + "TIMEOUT": "10000"}, 1.0),
            ({G + "TIMEOUT": "0"}, 1.0),
            ({G + "TIMEOUT": "-5"}, 1.0),
            ({G + "TIMEOUT": "1.5"}, 1.0),
            ({G + "TIMEOUT": "²"}, 1.0),
            ({OL + "TIMEOUT": "100", G + "TIMEOUT": "500"}, 0.1),
        ],
    )
    def test_timeout_only_shortens_the_budget(self, env: dict[str, str], timeout: float) -> None:
        """Integer milliseconds, capped at the one-second budget; anything else ignored."""
        assert otlp_destination(env).timeout == timeout

    def test_certificate_and_ignored_variables(self) -> None:
        """The CA file is taken; protocol, client certificates and resource attributes are not."""
        env = {
            OL + "CERTIFICATE": "/etc/ca.pem",
            G + "PROTOCOL": "grpc",
            G + "INSECURE": "true",
            "OTEL_RESOURCE_ATTRIBUTES": "host.name=secret",
            "OTEL_SERVICE_NAME": "other",
        }
        destination = otlp_destination(env)
        assert destination.ca_certs == "/etc/ca.pem"
        assert destination.url == DEFAULT_OTLP_ENDPOINT
        assert "secret" not in repr(destination)


class TestHttp:
    def test_no_endpoint_is_inert(self) -> None:
        """http has no built-in destination: without an endpoint it sends nothing."""
        assert http_destination("", "default").problem == NO_ENDPOINT

    def test_credentials_are_a_problem_and_never_shown(self) -> None:
        """An endpoint with credentials is refused, and its report hides them."""
        destination = http_destination("https://me:pw@c/v1", "VISIVO_TELEMETRY_ENDPOINT")
        assert destination.problem == "endpoint must not contain credentials"
        assert destination.report()["url"] == "https://***@c/v1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://c/v1", "https://c/v1"),
        ("https://u:p@c/v1", "https://***@c/v1"),
        ("https://u@c", "https://***@c"),
        ("u:p@c/x", "***@c/x"),
        ("https://c/a@b", "https://c/a@b"),
        ("https://u:p@c?x=@", "https://***@c?x=@"),
        ("not a url", "not a url"),
    ],
)
def test_redact_hides_credentials(url: str, shown: str) -> None:
    """Anything before the authority's last @ is hidden; paths keep their @."""
    assert redact(url) == shown
