"""Knowledge sources (files, Q&A pairs, web pages) and search."""

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from ..enums import FILE_TYPES, SEARCH_MODES, SOURCE_STATUSES, SOURCE_TYPES
from .common import ResourceSchema, StrictBoolean, UTCDateTime, text


def assistant_ids_field() -> ma.fields.List:
    return ma.fields.List(
        ma.fields.UUID(),
        validate=validate.Length(max=100),
        metadata={"description": "Assistants that may use this source; empty: all of them."},
    )


class KnowledgeSourceSchema(ResourceSchema):
    """A source of knowledge and how far its indexing got. Fields of other types are null."""

    type = ma.fields.String(dump_only=True, metadata={"enum": SOURCE_TYPES})
    title = text(500, allow_none=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": SOURCE_STATUSES})
    progress = ma.fields.Float(dump_only=True)
    chunk_count = ma.fields.Integer(dump_only=True)
    error = ma.fields.String(dump_only=True, allow_none=True)
    assistant_ids = assistant_ids_field()
    file_type = ma.fields.String(dump_only=True, allow_none=True)
    filename = ma.fields.String(dump_only=True, allow_none=True)
    size_bytes = ma.fields.Integer(dump_only=True, allow_none=True)
    question = ma.fields.String(dump_only=True, allow_none=True)
    answer = ma.fields.String(dump_only=True, allow_none=True)
    tags = ma.fields.List(ma.fields.String(), dump_only=True)
    source = ma.fields.String(attribute="origin", dump_only=True, allow_none=True)
    url = ma.fields.String(dump_only=True, allow_none=True)
    crawl = ma.fields.Dict(dump_only=True, allow_none=True)
    page_count = ma.fields.Integer(dump_only=True, allow_none=True)
    fetched_at = UTCDateTime(dump_only=True, allow_none=True)
    embedding_model = ma.fields.String(dump_only=True, allow_none=True)


class KnowledgeSourceUpdateSchema(ma.Schema):
    title = text(500, allow_none=True)
    assistant_ids = assistant_ids_field()


class KnowledgeSourceQueryArgsSchema(ma.Schema):
    type = ma.fields.String(validate=validate.OneOf(SOURCE_TYPES))
    status = ma.fields.String(validate=validate.OneOf(SOURCE_STATUSES))


class FileFormSchema(ma.Schema):
    title = text(500)
    file_type = ma.fields.String(
        validate=validate.OneOf(FILE_TYPES),
        metadata={"description": "Checked against the content; detected when left out."},
    )
    assistant_ids = assistant_ids_field()


class FileUploadSchema(ma.Schema):
    file = Upload(required=True)


class QASchema(ma.Schema):
    question = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    answer = ma.fields.String(required=True, validate=validate.Length(min=1, max=20000))
    tags = ma.fields.List(text(100), validate=validate.Length(max=50))
    source = text(200, metadata={"description": "Where the pair comes from, e.g. manual."})
    title = text(500)
    assistant_ids = assistant_ids_field()


class QAUpdateSchema(QASchema):
    """The fields to change; any subset (used with partial=True)."""


class CrawlSchema(ma.Schema):
    max_pages = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=500))
    same_domain = StrictBoolean(load_default=True)


class UrlSchema(ma.Schema):
    url = ma.fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
    )
    title = text(500)
    crawl = ma.fields.Nested(CrawlSchema)
    assistant_ids = assistant_ids_field()


class SearchSchema(ma.Schema):
    query = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    assistant_id = ma.fields.UUID(
        metadata={"description": "Search only what this assistant may use."}
    )
    top_k = ma.fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))
    mode = ma.fields.String(load_default="hybrid", validate=validate.OneOf(SEARCH_MODES))


class PassageSchema(ma.Schema):
    source_id = ma.fields.UUID()
    type = ma.fields.String(metadata={"enum": SOURCE_TYPES})
    title = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    page = ma.fields.Integer(allow_none=True)
    text = ma.fields.String()
    score = ma.fields.Float(
        metadata={
            "description": "Relevance, 0 to 1, higher is better: 0.9 x similarity + 0.1 x"
            " keyword score (BM25 over the larger of the best match's and a full match's)."
        }
    )
    similarity = ma.fields.Float(
        allow_none=True, metadata={"description": "Cosine similarity to the query, if known."}
    )
