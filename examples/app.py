"""A tiny Flask app instrumented with visivo-telemetry.

Run it from the repository root (see examples/README.md)::

    VISIVO_TELEMETRY_SINK=stdout python examples/app.py --port 5000
"""

from __future__ import annotations

import argparse
import sys

import flask
from werkzeug.serving import make_server

import visivo.telemetry
from visivo.telemetry.integrations.flask import instrument


def create_app() -> flask.Flask:
    """The app factory: routes, a blueprint, and an error."""
    app = flask.Flask(__name__)
    api = flask.Blueprint("api", __name__, url_prefix="/api")

    @api.get("/project/<int:project_id>")
    def project(project_id: int) -> dict[str, object]:
        return {"id": project_id, "name": "demo"}

    @api.get("/project/<int:project_id>/dashboard/<name>")
    def dashboard(project_id: int, name: str) -> dict[str, object]:
        return {"project": project_id, "dashboard": name}

    @api.get("/fail")
    def fail() -> str:
        raise RuntimeError("this message is never sent")

    app.register_blueprint(api)

    @app.get("/")
    def index() -> str:
        return "Try /api/project/42, /api/project/42/dashboard/sales, /api/fail, /nope\n"

    return instrument(app)


def main(argv: list[str] | None = None) -> None:
    """Serve the app on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    port = parser.parse_args(argv).port
    visivo.telemetry.start()
    server = make_server("127.0.0.1", port, create_app())
    print(f"Serving on http://127.0.0.1:{server.server_port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
