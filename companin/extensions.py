"""The Flask extensions, created once and bound to the app in `create_app`."""

import limits
import limits.errors
import limits.storage
from flask import current_app, g
from flask_limiter import Limiter
from flask_smorest import Api

from .auth import rate_limit_key, spends_no_budget
from .config import SettingsError
from .schemas.envelope import ErrorEnvelopeSchema


class CompaninApi(Api):
    """flask-smorest's Api, documenting errors with the envelope."""

    ERROR_SCHEMA = ErrorEnvelopeSchema


api = CompaninApi()

# One budget per organization across every route; callers without credentials are
# counted where it matters (widget-token issuance, per IP) by the route's own limit.
limiter = Limiter(
    key_func=rate_limit_key,
    application_limits=[lambda: current_app.config["RATE_LIMIT"]],
    application_limits_exempt_when=spends_no_budget,
    headers_enabled=True,
)


def widget_token_limit() -> str:
    """Widget tokens one client IP may request (the route has no organization to count by)."""
    return current_app.config["WIDGET_TOKEN_RATE_LIMIT"]


def keep_retry_after_for_429(response):
    """flask-limiter sends Retry-After on every response; it only means something on a 429,
    and on a 503 whose model provider said how long to wait (see errors.py)."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
        wait = g.get("provider_retry_after")
        if response.status_code == 503 and wait:
            response.headers["Retry-After"] = str(wait)
    return response


def check_rate_limit_settings(settings: dict) -> None:
    """Refuse bad limit strings or storage at start-up, not on the first request."""
    for name in ("RATE_LIMIT", "WIDGET_TOKEN_RATE_LIMIT", "CONSOLE_SIGN_IN_RATE_LIMIT"):
        try:
            limits.parse_many(settings[name])
        except ValueError:
            raise SettingsError(f"COMPANIN_{name}: not a rate limit such as '1000/hour'") from None
    try:
        limits.storage.storage_from_string(settings["RATELIMIT_STORAGE_URI"])
    except limits.errors.ConfigurationError as error:
        raise SettingsError(f"COMPANIN_RATELIMIT_STORAGE_URI: {error}") from None
