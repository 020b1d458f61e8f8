from functools import wraps

from flask import current_app, request
from flask.views import MethodView

from ..auth import current_principal, requires
from ..config import upload_body_limit
from ..errors import PayloadTooLarge
from ..schemas.knowledge import (
    FileFormSchema,
    FileUploadSchema,
    KnowledgeSourceQueryArgsSchema,
    KnowledgeSourceSchema,
    KnowledgeSourceUpdateSchema,
    PassageSchema,
    QASchema,
    QAUpdateSchema,
    SearchSchema,
    UrlSchema,
)
from ..services import knowledge
from ..state import app_state
from .blueprint import Blueprint, QueryPage

blp = Blueprint(
    "knowledge", __name__, url_prefix="/api/v1/knowledge", description="What the assistants know"
)


def _upload_sized(view):
    """Let this route's body be as large as an upload may be (other routes keep the
    smaller request limit); set before the form is parsed."""

    @wraps(view)
    def sized(*args, **kwargs):
        request.max_content_length = upload_body_limit(current_app.config)
        return view(*args, **kwargs)

    return sized


@blp.route("/files/")
class Files(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema(many=True), description="Files listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List uploaded files"""
        return knowledge.list_sources(current_principal(), {"type": "file"})

    @_upload_sized
    @requires()
    @blp.arguments(FileFormSchema, location="form")
    @blp.arguments(FileUploadSchema, location="files")
    @blp.response(201, KnowledgeSourceSchema, description="File received, processing")
    def post(self, form, files):
        """Upload a PDF, text, Markdown, HTML or DOCX file; it is indexed in the background"""
        limit = current_app.config["MAX_UPLOAD_BYTES"]
        upload = files["file"]
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"File larger than {limit} bytes")
        name = upload.filename or "upload"
        return knowledge.create_file(current_principal(), form, name, data, app_state().ingestion)


@blp.route("/qa/")
class QAPairs(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema(many=True), description="Q&A pairs listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List Q&A pairs"""
        return knowledge.list_sources(current_principal(), {"type": "qa"})

    @requires()
    @blp.arguments(QASchema)
    @blp.response(201, KnowledgeSourceSchema, description="Q&A pair created")
    def post(self, fields):
        """Add a question and its answer; searchable at once"""
        return knowledge.create_qa(current_principal(), fields, app_state().ingestion)


@blp.route("/qa/<uuid:source_id>")
class QAPairById(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema, description="Q&A pair found")
    def get(self, source_id):
        """Get a Q&A pair"""
        return knowledge.get_source(current_principal(), source_id, type="qa")

    @requires()
    @blp.arguments(QAUpdateSchema(partial=True))
    @blp.response(200, KnowledgeSourceSchema, description="Q&A pair updated")
    def patch(self, fields, source_id):
        """Change a Q&A pair; the index follows at once"""
        return knowledge.update_qa(current_principal(), source_id, fields, app_state().ingestion)

    @requires()
    @blp.response(200, description="Q&A pair deleted")
    def delete(self, source_id):
        """Delete a Q&A pair and its index entries"""
        knowledge.delete_source(current_principal(), source_id, app_state().ingestion, type="qa")


@blp.route("/urls/")
class Urls(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema(many=True), description="Web pages listed")
    @blp.paginate(QueryPage)
    def get(self):
        """List web pages (and crawls)"""
        return knowledge.list_sources(current_principal(), {"type": "url"})

    @requires()
    @blp.arguments(UrlSchema)
    @blp.response(201, KnowledgeSourceSchema, description="Web page received, processing")
    def post(self, fields):
        """Add a web page, optionally crawling its site; fetched in the background"""
        return knowledge.create_url(current_principal(), fields, app_state().ingestion)


@blp.route("/urls/<uuid:source_id>/refresh")
class UrlRefresh(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema, description="Refresh started")
    def post(self, source_id):
        """Fetch a web page again; only changed content is re-indexed"""
        return knowledge.refresh_url(current_principal(), source_id, app_state().ingestion)


@blp.route("/sources/")
class Sources(MethodView):
    @requires()
    @blp.arguments(KnowledgeSourceQueryArgsSchema, location="query")
    @blp.response(200, KnowledgeSourceSchema(many=True), description="Sources listed")
    @blp.paginate(QueryPage)
    def get(self, filters):
        """List every knowledge source, of every type, with its status"""
        return knowledge.list_sources(current_principal(), filters)


@blp.route("/sources/<uuid:source_id>")
class SourceById(MethodView):
    @requires()
    @blp.response(200, KnowledgeSourceSchema, description="Source found")
    def get(self, source_id):
        """Get a knowledge source and its processing status"""
        return knowledge.get_source(current_principal(), source_id)

    @requires()
    @blp.arguments(KnowledgeSourceUpdateSchema)
    @blp.response(200, KnowledgeSourceSchema, description="Source updated")
    def patch(self, fields, source_id):
        """Rename a source or limit it to some assistants"""
        return knowledge.update_source(current_principal(), source_id, fields)

    @requires()
    @blp.response(200, description="Source deleted")
    def delete(self, source_id):
        """Delete a source and every chunk of it, everywhere"""
        knowledge.delete_source(current_principal(), source_id, app_state().ingestion)


@blp.route("/search")
class Search(MethodView):
    @requires()
    @blp.arguments(SearchSchema)
    @blp.response(200, PassageSchema(many=True), description="Passages found")
    def post(self, fields):
        """The passages the assistant would see for a question, best first"""
        return knowledge.search(current_principal(), fields, app_state().ingestion)
