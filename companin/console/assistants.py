"""The console's Assistants section."""

from __future__ import annotations

from flask import render_template

from ..extensions import limiter
from .blueprint import blp
from .guard import console_requires


@blp.get("/assistants")
@limiter.exempt
@console_requires("agent")
def assistants() -> str:
    return render_template("console/placeholder.html", title="Assistants")
