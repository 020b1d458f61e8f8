"""How request bodies are read: webargs' JSON parsing, closed against two hostile inputs."""

from __future__ import annotations

import json
import re
from typing import Any

import flask
from webargs.flaskparser import FlaskParser, abort

# A `\uD800`-`\uDFFF` escape: only a lone one is a problem, but only escapes can make one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            abort(400, messages={"json": ["JSON nested too deeply."]})
        raw = req.get_data(cache=True)
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(data):
            # Valid JSON, but not text any database (or UTF-8) can store.
            abort(400, messages={"json": ["Invalid unicode: a lone surrogate escape."]})
        if b"\\u0000" in raw and _holds_nul(data):
            abort(400, messages={"json": [NUL_REFUSED]})
        return data


NUL_REFUSED = "Text may not contain NUL characters (\\u0000)."


def refuse_nul_in_query_and_form() -> None:
    """A `before_request` hook: a NUL character in the path, query string or a form field is a 400,
    on every backend alike (PostgreSQL cannot store or even compare text that holds one).
    JSON bodies are checked as they are parsed."""
    request = flask.request
    if "\x00" in request.path:
        abort(400, messages={"path": [NUL_REFUSED]})
    places = {"query": request.args}
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        places["form"] = request.form
    for place, fields in places.items():
        if any("\x00" in key + value for key, value in fields.items(multi=True)):
            abort(400, messages={place: [NUL_REFUSED]})


def _holds_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_holds_nul(item) for item in data)
    return False


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
