"""The Blueprint every resource module uses: it wraps results in the envelope and pages queries.

The envelope is applied here, once: a view returns its object (or query) and
`@blp.response(status, Schema, description=...)` turns it into
`{"status", "status_code", "detail", "data"}`, documenting that shape in OpenAPI too.
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus
from typing import Any

import flask_smorest
from flask import g
from flask_smorest import Page

from ..errors import envelope
from ..schemas.envelope import envelope_schema
from .parser import BodyParser


class QueryPage(Page):
    """Pages a peewee query in the database instead of in memory."""

    @property
    def item_count(self) -> int:
        return self.collection.count()

    @property
    def items(self) -> list[Any]:
        page, size = self.page_params.page, self.page_params.page_size
        if (page - 1) * size >= self.page_params.item_count:
            return []  # past the end; also keeps huge page numbers out of SQL's OFFSET
        return list(self.collection.paginate(page, size))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = BodyParser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 20, "max_page_size": 100}

    def response(
        self,
        status_code: int,
        schema: Any = None,
        *,
        description: str | None = None,
        lift: bool = False,
        **kwargs: Any,
    ):
        """flask-smorest's `response`, enveloped: `description` becomes the `detail`.

        `lift` also puts the fields of `data` at the top level, for the one route whose
        reference example reads them there (`(await response.json()).token`).
        """
        detail = description or HTTPStatus(status_code).phrase
        self._lift_doc = lift  # read by _make_doc_response_schema, called just below
        try:
            document = super().response(status_code, schema, description=detail, **kwargs)
        finally:
            self._lift_doc = False

        def decorator(func):
            documented = document(func)

            @wraps(documented)
            def view(*args: Any, **kw: Any) -> Any:
                g.envelope = (int(status_code), detail, lift)
                return documented(*args, **kw)

            return view

        return decorator

    def _prepare_response_content(self, data: Any) -> dict[str, Any]:
        status_code, detail, lift = g.envelope
        body = envelope(status_code, detail, data)
        return {**data, **body} if lift else body

    def _make_doc_response_schema(self, schema: Any) -> Any:
        return envelope_schema(schema, lift=getattr(self, "_lift_doc", False))

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
        total_pages = (item_count + page_size - 1) // page_size
        return {
            "total": item_count,
            "total_pages": total_pages,
            "page": page,
            "page_size": page_size,
        }
