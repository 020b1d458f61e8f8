from flask import current_app, request
from flask.views import MethodView
from flask_limiter.util import get_remote_address

from ..auth import issue_widget_token
from ..extensions import limiter, widget_token_limit
from ..schemas.auth import WidgetTokenRequestSchema, WidgetTokenSchema
from ..services.widget_tokens import widget_principal
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
        principal = widget_principal(origin=request.headers.get("Origin"), **fields)
        ttl = current_app.config["WIDGET_TOKEN_TTL"]
        token = issue_widget_token(current_app.extensions["companin"].signing_key, principal, ttl)
        return {"token": token, "expires_in": ttl, "token_type": "Bearer"}

    post.widget_access = True
