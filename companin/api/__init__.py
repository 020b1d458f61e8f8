"""The REST API: one module per resource, each exposing `blp`, and the routes around them."""

from __future__ import annotations

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask_smorest import Api

from ..auth import SECURITY_SCHEMES
from . import (
    assistants,
    contexts,
    conversations,
    health,
    knowledge,
    messages,
    sessions,
    widget_configs,
    widget_tokens,
)

BLUEPRINTS = (
    widget_tokens,
    assistants,
    widget_configs,
    sessions,
    conversations,
    messages,
    contexts,
    knowledge,
)


def register_api(app: Flask, api: Api) -> None:
    """Register every resource, the OpenAPI components, the docs' assets and /healthz."""
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    for module in BLUEPRINTS:
        api.register_blueprint(module.blp)
    app.register_blueprint(health.blp)

    # Swagger UI's files come from a Python package, so the docs work without internet.
    @app.route("/api/v1/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
