"""`GET /healthz`: is this process able to serve? No authentication, no rate limit."""

from flask import Blueprint, jsonify

from ..db import db
from ..errors import envelope
from ..extensions import limiter

blp = Blueprint("health", __name__)


@blp.get("/healthz")
@limiter.exempt
def healthz():
    """Report the state of each part the service needs."""
    try:
        db.execute_sql("SELECT 1")
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ok", and is reported as such
        database = "unavailable"
    healthy = database == "ok"
    code = 200 if healthy else 503
    detail = "Healthy" if healthy else "Unhealthy"
    return jsonify(envelope(code, detail, {"database": database})), code
