from flask.views import MethodView

from ..auth import current_principal, requires
from ..schemas.chats import (
    SessionQueryArgsSchema,
    SessionSchema,
    SessionUpdateSchema,
)
from ..services import sessions
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "sessions", __name__, url_prefix="/api/v1/sessions", description="Anonymous visitor sessions"
)


@blp.route("/")
class Sessions(MethodView):
    @requires()
    @blp.arguments(SessionQueryArgsSchema, location="query")
    @blp.response(200, SessionSchema(many=True), description="Sessions listed")
    @blp.paginate(QueryPage)
    def get(self, filters):
        """List visitor sessions, newest last"""
        return sessions.list_sessions(current_principal(), filters)

    @requires(widget=True)
    @blp.arguments(SessionSchema)
    @blp.response(201, SessionSchema, description="Session created")
    def post(self, fields):
        """Start a visitor session with an assistant (widget tokens may)"""
        return sessions.create_session(current_principal(), fields)


@blp.route("/<uuid:session_id>")
class SessionById(MethodView):
    @requires(widget=True)
    @blp.response(200, SessionSchema, description="Session found")
    def get(self, session_id):
        """Get a session (a widget token only its own visitor's)"""
        return sessions.get_session(current_principal(), session_id)

    @requires(widget=True)
    @blp.arguments(SessionUpdateSchema)
    @blp.response(200, SessionSchema, description="Session updated")
    def patch(self, fields, session_id):
        """Change a session's visitor id, locale, metadata or handoff (a widget token only
        its own visitor's metadata and locale)"""
        return sessions.update_session(current_principal(), session_id, fields)

    @requires()
    @blp.response(200, description="Session deleted")
    def delete(self, session_id):
        """Delete a session and its messages"""
        sessions.delete_session(current_principal(), session_id)
