from flask.views import MethodView

from ..auth import current_principal, requires
from ..schemas.widget_configs import WidgetConfigSchema, WidgetConfigUpdateSchema
from ..services import widget_configs
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "widget_configs",
    __name__,
    url_prefix="/api/v1/widget-configs",
    description="Web widget settings",
)


@blp.route("/")
class WidgetConfigs(MethodView):
    @requires()
    @blp.response(200, WidgetConfigSchema(many=True), description="Widget configs listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List the organization's widget configs"""
        return widget_configs.list_configs(current_principal())

    @requires()
    @blp.arguments(WidgetConfigSchema)
    @blp.response(201, WidgetConfigSchema, description="Widget config created")
    def post(self, fields):
        """Create a widget config for an assistant"""
        return widget_configs.create_config(current_principal(), fields)


@blp.route("/<uuid:config_id>")
class WidgetConfigById(MethodView):
    @requires(widget=True)
    @blp.response(200, WidgetConfigSchema, description="Widget config found")
    def get(self, config_id):
        """Get a widget config (widget tokens may read it)"""
        return widget_configs.get_config(current_principal(), config_id)

    @requires()
    @blp.arguments(WidgetConfigUpdateSchema(partial=True))
    @blp.response(200, WidgetConfigSchema, description="Widget config updated")
    def patch(self, fields, config_id):
        """Change some of a widget config's fields"""
        return widget_configs.update_config(current_principal(), config_id, fields)

    @requires()
    @blp.response(200, description="Widget config deleted")
    def delete(self, config_id):
        """Delete a widget config"""
        widget_configs.delete_config(current_principal(), config_id)
