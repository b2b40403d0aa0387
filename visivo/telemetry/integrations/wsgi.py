"""A WSGI middleware that announces requests with ``request_finished``.

``TelemetryMiddleware(app)`` works for any WSGI application and needs no web framework.
It does not know the router, so it sends the raw ``PATH_INFO`` and the policy templates
it (``/api/project/42`` → ``/api/project/{id}``); Flask apps get the router's template
through :mod:`visivo.telemetry.integrations.flask`, which builds on this module.

Which requests are reported:

- Never ``OPTIONS`` or ``HEAD`` requests (CORS preflights and probes, not usage), nor
  static files: a path whose last segment has a static-file extension (``/app/main.js``,
  ``/favicon.ico``). The middleware adds no endpoints of its own.
- ``include``: URL prefixes (``["/api/"]``) or a predicate taking the path; when given,
  only matching requests are reported. ``exclude``: the same, for requests never to
  report. The decision is made before the application is called, and an excluded
  request costs one prefix check.

What is reported, and when:

- **status**: the last status passed to ``start_response``, which is what the client
  received. An exception out of the application is reported as ``500`` and re-raised
  unchanged (servers answer it with a 500). An exception while the body is produced is
  reported as ``500`` if it comes before the first chunk (the server can still send a
  500), else as the status already sent.
- **duration**: from the middleware being called to the response leaving the app. A
  complete body (a ``list`` or ``tuple``, or a Flask response that is not streamed) has
  left the app when the application returns, and the signal is sent then; the body is
  returned untouched. Any other body is a stream: it is wrapped, and the signal is sent
  when the server closes it (WSGI servers always call ``close()``), so the duration
  covers producing the whole stream. A ``wsgi.file_wrapper`` body is never wrapped (the
  server may send it with ``sendfile``); its signal is sent when the app returns.
- The query string is never read. Nothing is sent while telemetry is off (the signal has
  no receivers), and the application is then called directly.
- A failing receiver or rule predicate is counted (``telemetry.counters().errors``) and
  never reaches the application or the server.

The telemetry pipeline merges the signals per delivery window, so a busy server sends a
few events per window, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from visivo.events.signals import request_finished
from visivo.telemetry.policy.routes import STATIC_EXTENSIONS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "SKIPPED_METHODS",
    "RequestRules",
    "RouteFilter",
    "TelemetryMiddleware",
    "is_static_path",
]

_SERVER_ERROR: Final = 500
# CORS preflights and health probes: traffic of browsers and load balancers, not usage.
SKIPPED_METHODS: Final = frozenset({"OPTIONS", "HEAD"})
# Rules whose decision is remembered at most; an app has far fewer.
_MAX_DECISIONS: Final = 4096

RequestRules: TypeAlias = "Iterable[str] | Callable[[str], bool]"
"""URL prefixes (``["/api/"]``), or a predicate taking the URL rule or raw path."""


def _count_error(where: str) -> None:
    from visivo.telemetry.runtime import count_error

    count_error(where)


def _matcher(rules: RequestRules | None) -> Callable[[str], bool] | None:
    if rules is None:
        return None
    if callable(rules):
        return rules
    if isinstance(rules, str):
        raise ValueError("include and exclude take a list of prefixes, not one string")
    prefixes = tuple(rules)
    if not all(isinstance(prefix, str) for prefix in prefixes):
        raise ValueError("include and exclude prefixes must be strings")
    return lambda route: route.startswith(prefixes)


def is_static_path(path: str) -> bool:
    """Whether a raw path names a static file: its last segment has a static extension."""
    _, dot, extension = path.rpartition("/")[2].rpartition(".")
    return bool(dot) and extension.lower() in STATIC_EXTENSIONS


class RouteFilter:
    """Decides which routes are reported, from ``include`` and ``exclude`` rules.

    Args:
        include: when given, only routes matching it are reported.
        exclude: routes matching it are never reported.

    A decision is remembered per route (a server has few routes and repeats them), so a
    predicate runs once per route, not per request.
    """

    def __init__(self, include: RequestRules | None = None, exclude: RequestRules | None = None):
        self._include = _matcher(include)
        self._exclude = _matcher(exclude)
        self._decisions: dict[str, bool] = {}

    def reports(self, route: str) -> bool:
        """Whether requests to ``route`` are reported; remembered once decided."""
        decision = self._decisions.get(route)
        if decision is None:
            decision = self.decide(route)
            if len(self._decisions) < _MAX_DECISIONS:
                self._decisions[route] = decision
        return decision

    def decide(self, route: str) -> bool:
        """Whether ``route`` is reported, by the rules alone (not remembered)."""
        if self._include is not None and not self._include(route):
            return False
        return self._exclude is None or not self._exclude(route)


class _Exchange:
    """What the middleware learns about one request while it runs.

    It is also the ``start_response`` the application gets: it notes the status and calls
    the server's.
    """

    __slots__ = (
        "app",
        "environ",
        "method",
        "path",
        "route",
        "rule",
        "sent",
        "start",
        "start_response",
        "status",
        "streamed",
    )

    def __init__(
        self, environ: WSGIEnvironment, start_response: StartResponse, app: object
    ) -> None:
        self.start = time.perf_counter()
        self.start_response = start_response
        self.app = app
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "")
        self.path: str = environ.get("PATH_INFO", "")
        self.status = ""
        self.route: str | None = None
        # The framework's matched rule object, if it has one (Flask's url_rule).
        self.rule: Any = None
        # Whether the body is a stream; None when the framework did not say.
        self.streamed: bool | None = None
        self.sent = False

    def __call__(self, status: str, *rest: Any) -> Any:
        self.status = status
        return self.start_response(status, *rest)


def _status_code(status: str) -> int:
    """The numeric code of a WSGI status line (``"404 NOT FOUND"`` → 404), 0 if malformed."""
    code = status[:3]
    return int(code) if code.isdigit() else 0


class _Body:
    """A streamed body that reports its request when the server closes it."""

    __slots__ = ("_body", "_exchange", "_failed_early", "_iterator", "_middleware", "_started")

    def __init__(
        self, body: Iterable[bytes], exchange: _Exchange, middleware: TelemetryMiddleware
    ) -> None:
        self._body = body
        self._exchange = exchange
        self._middleware = middleware
        self._iterator: Iterator[bytes] | None = None
        self._started = False
        self._failed_early = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._body)
        try:
            chunk = next(self._iterator)
        except StopIteration:
            raise
        except Exception:
            if not self._started:
                self._failed_early = True
            raise
        self._started = True
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            exchange = self._exchange
            code = _SERVER_ERROR if self._failed_early else _status_code(exchange.status)
            self._middleware._finish(exchange, code)


class TelemetryMiddleware:
    """Wrap a WSGI application so its requests send ``request_finished``.

    Args:
        app: the WSGI application to wrap; it is called exactly as before.
        sender: the ``sender`` of the signal (``app`` when None).
        include: URL prefixes or a predicate on the raw path; when given, only matching
            requests are reported.
        exclude: URL prefixes or a predicate on the raw path; matching requests are not
            reported.

    ``OPTIONS`` and ``HEAD`` requests and static files are never reported.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        sender: object = None,
        include: RequestRules | None = None,
        exclude: RequestRules | None = None,
    ) -> None:
        self.app = app
        self.sender = app if sender is None else sender
        self.filter = self._make_filter(include, exclude)

    def _make_filter(
        self, include: RequestRules | None, exclude: RequestRules | None
    ) -> RouteFilter:
        return _PathFilter(include, exclude)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not request_finished.receivers or environ.get("REQUEST_METHOD") in SKIPPED_METHODS:
            return self.app(environ, start_response)
        if not self._reports_path(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        exchange = _Exchange(environ, start_response, self.sender)
        try:
            body = self.app(environ, exchange)
        except Exception:
            self._finish(exchange, _SERVER_ERROR)
            raise
        return self._observe(exchange, environ, body)

    def _reports_path(self, path: str) -> bool:
        try:
            return self.filter.reports(path)
        except Exception:  # noqa: BLE001 - a failing predicate never reaches the app
            _count_error("wsgi_rules")
            return False

    def _observe(
        self, exchange: _Exchange, environ: WSGIEnvironment, body: Iterable[bytes]
    ) -> Iterable[bytes]:
        """Report a complete body now; wrap a streamed one to report it when closed."""
        if self._is_complete(exchange, body) or _is_file_wrapper(environ, body):
            self._finish(exchange, _status_code(exchange.status))
            return body
        return _Body(body, exchange, self)

    def _is_complete(self, exchange: _Exchange, body: Iterable[bytes]) -> bool:
        """Whether the whole body exists already, so the response has left the app."""
        return isinstance(body, list | tuple)

    def _finish(self, exchange: _Exchange, status_code: int) -> None:
        if exchange.sent:
            return
        exchange.sent = True
        duration_ms = (time.perf_counter() - exchange.start) * 1000.0
        try:
            request_finished.send(
                exchange.app,
                method=exchange.method,
                status_code=status_code,
                duration_ms=duration_ms,
                route=exchange.route,
                path=exchange.path,
            )
        except Exception:  # noqa: BLE001 - a receiver's failure never reaches the app
            _count_error("wsgi")


class _PathFilter(RouteFilter):
    """Raw paths: static files are never reported, and paths are not remembered.

    Raw paths hold ids, so remembering them would only fill the memory; the rules are
    prefix checks, cheap enough to run per request.
    """

    def reports(self, route: str) -> bool:
        return not is_static_path(route) and self.decide(route)


def _is_file_wrapper(environ: WSGIEnvironment, body: Iterable[bytes]) -> bool:
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(body, wrapper)
