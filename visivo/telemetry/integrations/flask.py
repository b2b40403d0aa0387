"""Instrument a Flask app: its requests send ``request_finished`` with their URL rule.

``instrument(app)`` wraps ``app.wsgi_app`` in a WSGI middleware (see
:mod:`visivo.telemetry.integrations.wsgi` for status, duration and streaming), so the
status is the one the client received, after every error handler, and the duration
runs from the request entering the app to the response leaving it.

Which requests are reported:

- Never ``OPTIONS`` or ``HEAD`` requests, nor static files: Flask's ``static`` endpoint
  (a blueprint's too) and any rule under the app's static URL path. The integration adds
  no endpoints of its own.
- ``include``: URL-rule prefixes (``["/api/"]``) or a predicate taking the rule
  (``"/api/project/<int:project_id>"``); when given, only requests whose rule matches are
  reported. ``exclude``: the same, for rules never to report. A request that matched no
  rule is judged by its raw path. The decision is remembered per rule, so a predicate
  runs once per rule, not per request.

Visivo reports only its API: ``instrument(app, include=["/api/"])``.

The endpoint is the matched URL rule (``/api/project/<int:project_id>``, templated by
the policy as ``/api/project/{project_id}``), read from ``flask.request.url_rule`` by an
``after_request`` function that returns the response untouched (by a receiver of Flask's
``got_request_exception`` signal when an exception propagates). A request that matched
no rule (404, 405, a strict-slash redirect) reports ``{unmatched}``, never its path. The
same function tells whether the response is streamed: a complete body is reported when
the app returns it, a streamed one (a generator view, a file) when the server closes it;
when Flask never got that far (an unhandled exception), the app raising is the end.
Both only record, are guarded, and act only for a request of an instrumented app in
progress, so the app behaves exactly as before: same responses, same error handlers,
same logs. (Flask calls ``after_request`` functions last-registered first, so the
function sees the response of every ``after_request`` added after ``instrument``.)

``TelemetryMiddleware`` is re-exported here for apps built on anything else.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar

try:
    import flask
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "visivo.telemetry.integrations.flask needs Flask: "
        "pip install 'visivo-telemetry[flask]' (for other WSGI apps use "
        "visivo.telemetry.integrations.wsgi.TelemetryMiddleware)"
    ) from error

from werkzeug.wsgi import ClosingIterator

from visivo.events.signals import request_finished
from visivo.telemetry.integrations.wsgi import (
    _SERVER_ERROR,
    SKIPPED_METHODS,
    RequestRules,
    RouteFilter,
    TelemetryMiddleware,
    _count_error,
    _Exchange,
    is_static_path,
)
from visivo.telemetry.policy.routes import UNMATCHED

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["RequestRules", "TelemetryMiddleware", "instrument"]

_A = TypeVar("_A", bound=flask.Flask)

_EXTENSION: Final = "visivo_telemetry"

# The request of an instrumented app that is running in this context, if any.
_exchange: ContextVar[_Exchange | None] = ContextVar("visivo_flask_exchange", default=None)


def _url_rule(exchange: _Exchange) -> Any:
    """The running request's URL rule (None when no rule matched)."""
    # werkzeug keeps the request in the environ until Flask pops the request context:
    # a dict lookup, where the ``flask.request`` proxy costs about 1.5 µs.
    request = exchange.environ.get("werkzeug.request")
    if isinstance(request, flask.Request):
        return request.url_rule
    return flask.request.url_rule


def _after_request(response: flask.Response) -> flask.Response:
    """Record the request's URL rule, and whether its response is streamed; change nothing.

    An ``after_request`` function of each instrumented app: Flask calls it for every
    response it finalises (error pages included), inside the request's context.
    """
    try:
        exchange = _exchange.get()
        if exchange is not None:
            exchange.rule = _url_rule(exchange)
            # Flask turns werkzeug responses (an HTTP error's page) into a ClosingIterator
            # over a body that already exists; only generators and files really stream.
            exchange.streamed = response.is_streamed and not isinstance(
                response.response, ClosingIterator
            )
    except Exception:  # noqa: BLE001 - never reaches Flask
        _count_error("flask")
    return response


def _on_got_request_exception(sender: object, **extra: Any) -> None:
    """Record an instrumented app's URL rule when an exception will propagate."""
    try:
        exchange = _exchange.get()
        if exchange is not None and exchange.app is sender:
            exchange.rule = _url_rule(exchange)
    except Exception:  # noqa: BLE001 - never reaches Flask
        _count_error("flask")


class _RuleFilter(RouteFilter):
    """URL rules: rules under the static URL path are never reported."""

    def __init__(
        self, include: RequestRules | None, exclude: RequestRules | None, static_path: str | None
    ) -> None:
        super().__init__(include, exclude)
        self._static = static_path.rstrip("/") + "/" if static_path else None

    def decide(self, route: str) -> bool:
        if self._static is not None and route.startswith(self._static):
            return False
        return super().decide(route)


class _FlaskMiddleware(TelemetryMiddleware):
    """The WSGI middleware, with the URL rule read from Flask's request after it answered."""

    def __init__(
        self,
        app: flask.Flask,
        *,
        include: RequestRules | None = None,
        exclude: RequestRules | None = None,
    ) -> None:
        self._static_path = app.static_url_path if app.has_static_folder else None
        super().__init__(app.wsgi_app, sender=app, include=include, exclude=exclude)

    def _make_filter(
        self, include: RequestRules | None, exclude: RequestRules | None
    ) -> RouteFilter:
        return _RuleFilter(include, exclude, self._static_path)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not request_finished.receivers or environ.get("REQUEST_METHOD") in SKIPPED_METHODS:
            return self.app(environ, start_response)
        exchange = _Exchange(environ, start_response, self.sender)
        token = _exchange.set(exchange)
        try:
            body = self.app(environ, exchange)
        except Exception:
            if self._reports(exchange, environ):
                self._finish(exchange, _SERVER_ERROR)
            raise
        finally:
            _exchange.reset(token)
        if not self._reports(exchange, environ):
            return body
        return self._observe(exchange, environ, body)

    def _reports(self, exchange: _Exchange, environ: WSGIEnvironment) -> bool:
        """Note the request's URL rule; whether the request is reported."""
        try:
            rule = exchange.rule
            if rule is None:
                exchange.route = UNMATCHED
                path = exchange.path
                return not is_static_path(path) and self.filter.decide(path)
            endpoint = rule.endpoint
            if endpoint == "static" or endpoint.endswith(".static"):
                return False
            exchange.route = route = rule.rule
            return self.filter.reports(route)
        except Exception:  # noqa: BLE001 - a failing predicate never reaches the app
            _count_error("flask_rules")
            return False

    def _is_complete(self, exchange: _Exchange, body: Iterable[bytes]) -> bool:
        return exchange.streamed is False


def instrument(
    app: _A, *, include: RequestRules | None = None, exclude: RequestRules | None = None
) -> _A:
    """Send ``request_finished`` for the requests ``app`` answers; returns the same app.

    Args:
        app: the Flask app.
        include: URL-rule prefixes (``["/api/"]``) or a predicate on the rule; when
            given, only requests whose rule matches are reported.
        exclude: URL-rule prefixes or a predicate on the rule; matching requests are not
            reported.

    ``OPTIONS`` and ``HEAD`` requests and static files are never reported. Call it where
    the app is built (an app factory works), before it handles a request (else
    ``ValueError``). Idempotent: a second call changes nothing,
    rules included. Middlewares that wrap ``app.wsgi_app`` afterwards run outside this
    one, so their time is not counted.
    """
    if not isinstance(app, flask.Flask):
        raise ValueError(f"instrument() takes a flask.Flask, not {type(app).__name__}")
    if _EXTENSION in app.extensions:
        return app
    middleware = _FlaskMiddleware(app, include=include, exclude=exclude)
    try:
        app.after_request(_after_request)
    except AssertionError as error:  # Flask's refusal once the app has handled a request
        raise ValueError(
            "instrument(app) must be called before the app handles its first request"
        ) from error
    flask.got_request_exception.connect(_on_got_request_exception, sender=app, weak=False)
    app.extensions[_EXTENSION] = middleware
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app
