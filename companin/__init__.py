"""Companin: a self-hosted customer-support AI assistant."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import access_log, config, console, cors, db, errors, request_id, web
from .api import register_api
from .api.parser import refuse_nul_in_query_and_form
from .auth import authenticate
from .extensions import api, check_rate_limit_settings, keep_retry_after_for_429, limiter
from .identity import load_signing_key
from .knowledge.embedder import get_embedder
from .knowledge.index import KnowledgeIndex
from .knowledge.vectorstore import VectorStore
from .schema import ensure_schema
from .services.answers import AnswerSettings
from .services.ingestion import Ingestion, IngestionSettings
from .state import EXTENSION, AppState

__all__ = ["create_app"]


def load_settings(test_config: dict[str, Any] | None = None) -> Flask:
    """An app holding only its settings, nothing opened yet: the defaults, then
    `instance/config.py`, the `COMPANIN_*` variables and `test_config`, each winning over
    the one before. (`companin backup` reads them so, without migrating the database.)"""
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        config.ENV_PREFIX + "INSTANCE_PATH"
    )
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
        static_folder=None,
    )
    app.config.from_mapping(config.defaults())
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config.from_environment())
    app.config.update(test_config or {})
    return app


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings, instance folder, database, extensions and routes."""
    app = load_settings(test_config)
    _configure_flask(app)
    check_rate_limit_settings(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    logging.getLogger("companin").setLevel(app.config["LOG_LEVEL"])

    request_id.init_app(app)
    access_log.init_app(app)
    db.init_app(app)
    ensure_schema(app.instance_path)
    app.extensions[EXTENSION] = AppState(
        signing_key=load_signing_key(app.instance_path),
        ingestion=_ingestion(app),
        answers=AnswerSettings.from_settings(app.config),
    )

    # Order matters: preflights are answered before credentials are read, and credentials
    # before the rate limiter (registered by its init_app) so that it counts per organization.
    cors.init_app(app)
    app.before_request(refuse_nul_in_query_and_form)
    app.before_request(authenticate)
    app.after_request(keep_retry_after_for_429)  # after_request hooks run last-registered first
    limiter.init_app(app)
    api.init_app(app)
    register_api(app, api)
    app.register_blueprint(web.blp)
    app.register_blueprint(console.blp)
    errors.register_error_handlers(app)
    if app.config["PROXY_COUNT"]:
        # The client's address (per-IP limits) and its scheme: behind a proxy that ends TLS,
        # the console's cookies stay Secure and the demo page names https addresses.
        proxies = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    return app


def _ingestion(app: Flask) -> Ingestion:
    """The knowledge index and its background worker, as the settings describe them."""
    settings = app.config
    vectors = VectorStore(
        path=os.path.join(app.instance_path, "chroma"),
        url=settings["CHROMA_URL"] or None,
        token=settings["CHROMA_TOKEN"] or None,
    )
    index = KnowledgeIndex(
        vectors, lambda: get_embedder(settings["EMBEDDING_MODEL"], settings["EMBEDDING_API_BASE"])
    )
    return Ingestion(
        index,
        IngestionSettings(
            parse_timeout_s=settings["INGEST_PARSE_TIMEOUT_S"],
            parse_memory_bytes=settings["INGEST_PARSE_MEMORY_MB"] * 1024 * 1024,
            max_pages=settings["INGEST_MAX_PAGES"],
            max_chars=settings["INGEST_MAX_CHARS"],
            fetch_timeout_s=settings["FETCH_TIMEOUT_S"],
            fetch_max_bytes=settings["FETCH_MAX_BYTES"],
            allow_private_urls=settings["INGEST_ALLOW_PRIVATE_URLS"],
            lease_s=settings["INGEST_LEASE_S"],
            poll_s=settings["INGEST_POLL_S"],
        ),
    )


def _configure_flask(app: Flask) -> None:
    """Translate Companin's settings into what Flask and its extensions read."""
    app.url_map.strict_slashes = False  # /sessions and /sessions/ both work, no redirect
    app.config.update(
        MAX_CONTENT_LENGTH=app.config["MAX_REQUEST_BYTES"],
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=False,
        # A Redis that stops answering fails a request in seconds (a 503), never hangs it.
        RATELIMIT_STORAGE_OPTIONS=(
            {"socket_connect_timeout": 2, "socket_timeout": 2}
            if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss"))
            else {}
        ),
        API_TITLE="Companin API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
    )
