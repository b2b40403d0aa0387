"""The host's Flask app, instrumented with visivo-telemetry."""

from __future__ import annotations

import flask

from visivo.telemetry.integrations.flask import instrument


def create_app() -> flask.Flask:
    """The viewer's API."""
    app = flask.Flask(__name__)

    @app.get("/api/project/<int:project_id>")
    def project(project_id: int) -> dict[str, int]:
        return {"id": project_id}

    return instrument(app)
