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
        if _SURROGATE_ESCAPE.search(req.get_data(cache=True)) and _has_lone_surrogate(data):
            # Valid JSON, but not text any database (or UTF-8) can store.
            abort(400, messages={"json": ["Invalid unicode: a lone surrogate escape."]})
        return data


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
