"""`GET /healthz`: is this process able to serve? No authentication, no rate limit."""

from flask import Blueprint, jsonify

from ..db import db
from ..errors import envelope
from ..extensions import limiter
from ..state import app_state

blp = Blueprint("health", __name__)


def _database() -> str:
    try:
        db.execute_sql("SELECT 1")
        return "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ok", and is reported as such
        return "unavailable"


def _rate_limits() -> str:
    """Can the limit counters be reached? In memory always; in Redis only while it is up."""
    try:
        return "ok" if limiter.storage.check() else "unavailable"
    except Exception:  # noqa: BLE001 - any failure means "not ok", and is reported as such
        return "unavailable"


@blp.get("/healthz")
@limiter.exempt
def healthz():
    """Report the state of each part the service needs: database, vector store, rate-limit
    counters (memory, or the Redis every process shares), embedder."""
    index = app_state().ingestion.index
    embedder_problem = index.embedder_problem()
    parts = {
        "database": _database(),
        "vector_store": "ok" if index.vectors_available() else "unavailable",
        "rate_limits": _rate_limits(),
        "embedder": "missing" if embedder_problem else index.model,
    }
    engines = ("database", "vector_store", "rate_limits")
    healthy = all(parts[name] == "ok" for name in engines) and not embedder_problem
    code = 200 if healthy else 503
    detail = "Healthy" if healthy else "Unhealthy"
    if embedder_problem:
        detail += f" - {embedder_problem}"
    return jsonify(envelope(code, detail, parts)), code
