from flask.views import MethodView

from ..auth import current_principal, requires
from ..schemas.assistants import AssistantSchema, AssistantUpdateSchema
from ..services import assistants
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "assistants", __name__, url_prefix="/api/v1/assistants", description="Assistant personas"
)


@blp.route("/")
class Assistants(MethodView):
    @requires()
    @blp.response(200, AssistantSchema(many=True), description="Assistants listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List the organization's assistants"""
        return assistants.list_assistants(current_principal())

    @requires()
    @blp.arguments(AssistantSchema)
    @blp.response(201, AssistantSchema, description="Assistant created")
    def post(self, fields):
        """Create an assistant"""
        return assistants.create_assistant(current_principal(), fields)


@blp.route("/<uuid:assistant_id>")
class AssistantById(MethodView):
    @requires()
    @blp.response(200, AssistantSchema, description="Assistant found")
    def get(self, assistant_id):
        """Get an assistant"""
        return assistants.get_assistant(current_principal(), assistant_id)

    @requires()
    @blp.arguments(AssistantUpdateSchema(partial=True))
    @blp.response(200, AssistantSchema, description="Assistant updated")
    def patch(self, fields, assistant_id):
        """Change some of an assistant's fields"""
        return assistants.update_assistant(current_principal(), assistant_id, fields)

    @requires()
    @blp.response(200, description="Assistant deleted")
    def delete(self, assistant_id):
        """Delete an assistant, with its widget configs, sessions and conversations"""
        assistants.delete_assistant(current_principal(), assistant_id)
