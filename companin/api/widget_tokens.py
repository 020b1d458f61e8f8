from flask import current_app, request
from flask.views import MethodView
from flask_limiter.util import get_remote_address

from ..extensions import limiter, widget_token_limit
from ..schemas.auth import WidgetTokenRequestSchema, WidgetTokenSchema
from ..services import origins
from ..services.widget_tokens import widget_token
from ..state import app_state
from .blueprint import Blueprint

blp = Blueprint(
    "auth", __name__, url_prefix="/api/v1/auth", description="Widget tokens for browsers"
)


@blp.route("/widget-token")
class WidgetToken(MethodView):
    @limiter.limit(widget_token_limit, key_func=get_remote_address)
    @blp.arguments(WidgetTokenRequestSchema)
    @blp.response(200, WidgetTokenSchema, description="Widget token issued", lift=True)
    def post(self, fields):
        """Get a short-lived widget token with only a client id (no secret in the browser)"""
        return widget_token(
            app_state().signing_key,
            current_app.config["WIDGET_TOKEN_TTL"],
            origin=origins.as_sent(request.headers.get("Origin"), request.host_url),
            **fields,
        )

    post.widget_access = True
