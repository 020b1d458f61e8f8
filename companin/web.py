"""What a browser loads outside the JSON API: the widget's script and the demo page.

`/widget.js` is the address the script tag names, so it cannot change with each release:
it is cached for a few minutes and revalidated by its ETag (the content's hash). The
same script at `/widget.js?v=<hash>` (what the demo page uses) never changes and is
cached for a year.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from flask import Blueprint, Response, current_app, render_template, request

from .extensions import limiter
from .services import demo

blp = Blueprint("web", __name__, template_folder="templates")

SHORT_CACHE_S = 300
LONG_CACHE_S = 365 * 24 * 3600


@dataclass(frozen=True)
class Script:
    content: bytes
    version: str  # the first hex digits of its SHA-256


@cache
def widget_script() -> Script:
    content = resources.files("companin").joinpath("widget", "widget.js").read_bytes()
    return Script(content, hashlib.sha256(content).hexdigest()[:16])


@blp.get("/widget.js")
@limiter.exempt
def widget_js() -> Response:
    """The chat widget, for any site's script tag."""
    script = widget_script()
    response = Response(script.content, mimetype="text/javascript")
    response.set_etag(script.version)
    response.cache_control.public = True
    if request.args.get("v") == script.version:
        response.cache_control.max_age = LONG_CACHE_S
        response.cache_control.immutable = True
    else:
        response.cache_control.max_age = SHORT_CACHE_S
    # Any site may load it: that is what it is for.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@blp.get("/demo")
@limiter.exempt
def demo_page() -> str:
    """The widget on a page of its own, for the instance's demo organization."""
    details = demo.existing_demo(current_app.instance_path)
    base = request.host_url.rstrip("/")
    return render_template(
        "demo.html",
        demo=details,
        script_url=f"{base}/widget.js",
        versioned_url=f"{base}/widget.js?v={widget_script().version}",
    )
