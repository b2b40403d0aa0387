"""Instrument a Flask app: every request sends ``request_finished`` with its URL rule.

``instrument(app)`` wraps ``app.wsgi_app`` in a WSGI middleware (see
:mod:`visivo.telemetry.integrations.wsgi` for status, duration and streaming), so the
status is the one the client received, after every error handler, and the duration
runs from the request entering the app to the response leaving it.

The endpoint is the matched URL rule (``/api/project/<int:project_id>``, templated by
the policy as ``/api/project/{project_id}``), read from ``flask.request.url_rule`` by a
receiver of Flask's own ``request_started`` signal, which Flask sends once the URL is
matched. A request that matched no rule (404, 405, a strict-slash redirect) reports
``{unmatched}``, never its path. Flask's ``request_finished`` signal tells whether the
response is streamed: a complete body is reported when the app returns it, a streamed
one (a generator view, a file) when the server closes it; when Flask never got that far
(an unhandled exception), the app raising is the end. Both receivers only record, are
guarded, and act only for a request of an instrumented app in progress, so the app
behaves exactly as before: same responses, same error handlers, same logs.

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

from visivo.telemetry.integrations.wsgi import TelemetryMiddleware, _Exchange
from visivo.telemetry.policy.routes import UNMATCHED

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["TelemetryMiddleware", "instrument"]

_A = TypeVar("_A", bound=flask.Flask)

_EXTENSION: Final = "visivo_telemetry"

# The request of an instrumented app that is running in this context, if any.
_exchange: ContextVar[_Exchange | None] = ContextVar("visivo_flask_exchange", default=None)


def _count_error(where: str) -> None:
    from visivo.telemetry.runtime import count_error

    count_error(where)


def _on_request_started(sender: object, **extra: Any) -> None:
    """Record the matched URL rule of an instrumented app's request."""
    try:
        exchange = _exchange.get()
        if exchange is not None and exchange.app is sender:
            rule = flask.request.url_rule
            exchange.route = rule.rule if rule is not None else UNMATCHED
    except Exception:  # noqa: BLE001 - never reaches Flask
        _count_error("flask")


def _on_request_finished(sender: object, **extra: Any) -> None:
    """Record whether an instrumented app's response is streamed."""
    try:
        exchange = _exchange.get()
        response = extra.get("response")
        if exchange is not None and exchange.app is sender and response is not None:
            # Flask turns werkzeug responses (an HTTP error's page) into a ClosingIterator
            # over a body that already exists; only generators and files really stream.
            exchange.streamed = bool(response.is_streamed) and not isinstance(
                response.response, ClosingIterator
            )
    except Exception:  # noqa: BLE001 - never reaches Flask
        _count_error("flask")


class _FlaskMiddleware(TelemetryMiddleware):
    """The WSGI middleware, with the rule and streaming captured from Flask's signals."""

    def _call(
        self, exchange: _Exchange, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        exchange.route = UNMATCHED
        token = _exchange.set(exchange)
        try:
            return self.app(environ, start_response)
        finally:
            _exchange.reset(token)

    def _is_complete(self, exchange: _Exchange, body: Iterable[bytes]) -> bool:
        return exchange.streamed is False


def instrument(app: _A) -> _A:
    """Send ``request_finished`` for every request ``app`` answers; returns the same app.

    Call it where the app is built (an app factory works). Idempotent. Middlewares that
    wrap ``app.wsgi_app`` afterwards run outside this one, so their time is not counted.
    """
    if not isinstance(app, flask.Flask):
        raise ValueError(f"instrument() takes a flask.Flask, not {type(app).__name__}")
    if _EXTENSION in app.extensions:
        return app
    flask.request_started.connect(_on_request_started, weak=False)
    flask.request_finished.connect(_on_request_finished, weak=False)
    middleware = _FlaskMiddleware(app.wsgi_app, sender=app)
    app.extensions[_EXTENSION] = middleware
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app
