"""A WSGI middleware that announces every request with ``request_finished``.

``TelemetryMiddleware(app)`` works for any WSGI application and needs no web framework.
It does not know the router, so it sends the raw ``PATH_INFO`` and the policy templates
it (``/api/project/42`` → ``/api/project/{id}``); Flask apps get the router's template
through :mod:`visivo.telemetry.integrations.flask`, which builds on this module.

What is reported, and when:

- **status**: the last status passed to ``start_response``, which is what the client
  received. An exception out of the application is reported as ``500`` and re-raised
  unchanged (servers answer it with a 500). An exception while the body is produced is
  reported as ``500`` if it comes before the first chunk (the server can still send a
  500), else as the status already sent.
- **duration**: from the middleware being called to the response leaving the app. A
  complete body (a ``list`` or ``tuple``, or a Flask response that is not streamed) has
  left the app when the application returns, and the event is sent then; the body is
  returned untouched. Any other body is a stream: it is wrapped, and the event is sent
  when the server closes it (WSGI servers always call ``close()``), so the duration
  covers producing the whole stream. A ``wsgi.file_wrapper`` body is never wrapped (the
  server may send it with ``sendfile``); its event is sent when the app returns.
- The query string is never read. Nothing is sent while telemetry is off (the signal has
  no receivers), and the application is then called directly.
- A failing receiver is counted (``telemetry.counters().errors``) and never reaches the
  application or the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from visivo.events.signals import request_finished

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["TelemetryMiddleware"]

_SERVER_ERROR: Final = 500


class _Exchange:
    """What the middleware learns about one request while it runs."""

    __slots__ = ("app", "method", "path", "route", "sent", "start", "status", "streamed")

    def __init__(self, environ: WSGIEnvironment, app: object) -> None:
        self.start = time.perf_counter()
        self.method: str = environ.get("REQUEST_METHOD", "")
        self.path: str = environ.get("PATH_INFO", "")
        self.app = app
        self.status = ""
        self.route: str | None = None
        # Whether the body is a stream; None when the framework did not say.
        self.streamed: bool | None = None
        self.sent = False


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
    """Wrap a WSGI application so each request sends ``request_finished``.

    Args:
        app: the WSGI application to wrap; it is called exactly as before.
        sender: the ``sender`` of the signal (``app`` when None).
    """

    def __init__(self, app: WSGIApplication, *, sender: object = None) -> None:
        self.app = app
        self.sender = app if sender is None else sender

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not request_finished.receivers:
            return self.app(environ, start_response)
        exchange = _Exchange(environ, self.sender)

        def observed_start_response(status: str, *rest: Any) -> Any:
            exchange.status = status
            return start_response(status, *rest)

        try:
            body = self._call(exchange, environ, observed_start_response)
        except Exception:
            self._finish(exchange, _SERVER_ERROR)
            raise
        if self._is_complete(exchange, body) or _is_file_wrapper(environ, body):
            self._finish(exchange, _status_code(exchange.status))
            return body
        return _Body(body, exchange, self)

    def _call(
        self, exchange: _Exchange, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Call the wrapped application (a framework may capture more around it)."""
        return self.app(environ, start_response)

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
            from visivo.telemetry.runtime import count_error

            count_error("wsgi")


def _is_file_wrapper(environ: WSGIEnvironment, body: Iterable[bytes]) -> bool:
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(body, wrapper)
