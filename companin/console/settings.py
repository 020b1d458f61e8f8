"""The console's Settings section."""

from __future__ import annotations

from flask import render_template

from ..extensions import limiter
from .blueprint import blp
from .guard import console_requires


@blp.get("/settings")
@limiter.exempt
@console_requires("agent")
def settings() -> str:
    return render_template("console/placeholder.html", title="Settings")
