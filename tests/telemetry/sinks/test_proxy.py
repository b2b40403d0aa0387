"""Why ``no_proxy_matches`` does not just call the standard library's NO_PROXY check."""

from __future__ import annotations

import urllib.request

import pytest

from visivo.telemetry.sinks.network.proxy import no_proxy_matches


def stdlib(host: str, port: int, no_proxy: str) -> bool:
    """What ``urllib.request.proxy_bypass_environment`` answers for ``host:port``."""
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(bypass(f"{host}:{port}", {"no": no_proxy}))


# Entries curl and most tools honour that the standard library gets wrong; ours handles
# them first and hands plain names (with or without a port) to the standard library.
STDLIB_GETS_WRONG = [
    ("c.io", 443, "x.io c.io", True),  # whitespace as a separator
    ("c.io", 443, "x.io,*", True),  # "*" is only special when it is the whole value
    ("api.c.io", 443, "*.c.io", True),  # a "*." prefix
    ("10.1.2.3", 443, "10.0.0.0/8", True),  # CIDR blocks
    ("::1", 80, "[::1]:80", True),  # bracketed IPv6 with a port
    ("c.io.", 443, "c.io", True),  # a fully qualified host name with its trailing dot
    ("127.0.0.1", 443, "0.0.1", False),  # a name suffix must not match inside an address
]
# Plain names, where the standard library is right and is used as is.
STDLIB_GETS_RIGHT = [
    ("c.io", 443, "c.io", True),
    ("api.c.io", 443, ".c.io", True),
    ("evilc.io", 443, "c.io", False),
    ("c.io", 443, "c.io:443", True),
    ("c.io", 443, "c.io:80", False),
    ("C.IO", 443, "c.io", True),
]


@pytest.mark.parametrize(("host", "port", "no_proxy", "expected"), STDLIB_GETS_WRONG)
def test_entries_the_standard_library_gets_wrong(
    host: str, port: int, no_proxy: str, expected: bool
) -> None:
    """For these entries the standard library disagrees with curl; we follow curl."""
    assert stdlib(host, port, no_proxy) is not expected
    assert no_proxy_matches(host, port, no_proxy) is expected


@pytest.mark.parametrize(("host", "port", "no_proxy", "expected"), STDLIB_GETS_RIGHT)
def test_plain_names_agree_with_the_standard_library(
    host: str, port: int, no_proxy: str, expected: bool
) -> None:
    """For plain names both agree: that part is the standard library's."""
    assert stdlib(host, port, no_proxy) is expected
    assert no_proxy_matches(host, port, no_proxy) is expected
