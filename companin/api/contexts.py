from flask.views import MethodView

from ..auth import current_principal, requires
from ..schemas.contexts import ContextSchema, ContextTraitsSchema
from ..services import contexts
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "contexts",
    __name__,
    url_prefix="/api/v1/contexts",
    description="What you know about your users",
)


@blp.route("/")
class Contexts(MethodView):
    @requires()
    @blp.response(200, ContextSchema(many=True), description="User contexts listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List user contexts"""
        return contexts.list_contexts(current_principal())

    @requires()
    @blp.arguments(ContextSchema)
    @blp.response(201, ContextSchema, description="User context created")
    def post(self, fields):
        """Create a user context (409 if its user_reference exists: PUT replaces)"""
        return contexts.create_context(current_principal(), fields)


@blp.route("/<string:key>")
class ContextByKey(MethodView):
    @requires()
    @blp.response(200, ContextSchema, description="User context found")
    def get(self, key):
        """Get a user context by its id or user_reference"""
        return contexts.get_context(current_principal(), key)

    @requires()
    @blp.arguments(ContextTraitsSchema)
    @blp.response(200, ContextSchema, description="User context saved")
    def put(self, fields, key):
        """Create or replace the context of a user_reference"""
        return contexts.put_context(current_principal(), key, fields["traits"])

    @requires()
    @blp.arguments(ContextTraitsSchema)
    @blp.response(200, ContextSchema, description="User context updated")
    def patch(self, fields, key):
        """Merge traits into a context (a null trait is removed)"""
        return contexts.patch_context(current_principal(), key, fields["traits"])

    @requires()
    @blp.response(200, description="User context deleted")
    def delete(self, key):
        """Delete a user context (conversations keep going without it)"""
        contexts.delete_context(current_principal(), key)
