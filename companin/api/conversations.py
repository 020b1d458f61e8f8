from flask.views import MethodView

from ..auth import current_principal, requires
from ..schemas.chats import (
    ConversationQueryArgsSchema,
    ConversationSchema,
    ConversationUpdateSchema,
)
from ..services import conversations
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/api/v1/conversations",
    description="Known customers' conversations",
)


@blp.route("/")
class Conversations(MethodView):
    @requires()
    @blp.arguments(ConversationQueryArgsSchema, location="query")
    @blp.response(200, ConversationSchema(many=True), description="Conversations listed")
    @blp.paginate(QueryPage)
    def get(self, filters):
        """List conversations, optionally of one customer or assistant"""
        return conversations.list_conversations(current_principal(), filters)

    @requires()
    @blp.arguments(ConversationSchema)
    @blp.response(201, ConversationSchema, description="Conversation created")
    def post(self, fields):
        """Start a conversation with a known customer"""
        return conversations.create_conversation(current_principal(), fields)


@blp.route("/<uuid:conversation_id>")
class ConversationById(MethodView):
    @requires()
    @blp.response(200, ConversationSchema, description="Conversation found")
    def get(self, conversation_id):
        """Get a conversation"""
        return conversations.get_conversation(current_principal(), conversation_id)

    @requires()
    @blp.arguments(ConversationUpdateSchema)
    @blp.response(200, ConversationSchema, description="Conversation updated")
    def patch(self, fields, conversation_id):
        """Change a conversation's title, locale, user context or metadata"""
        return conversations.update_conversation(current_principal(), conversation_id, fields)

    @requires()
    @blp.response(200, description="Conversation deleted")
    def delete(self, conversation_id):
        """Delete a conversation and its messages"""
        conversations.delete_conversation(current_principal(), conversation_id)
