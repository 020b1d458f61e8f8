"""The console's Widget section."""

from __future__ import annotations

from flask import render_template

from ..extensions import limiter
from .blueprint import blp
from .guard import console_requires


@blp.get("/widgets")
@limiter.exempt
@console_requires("agent")
def widgets() -> str:
    return render_template("console/placeholder.html", title="Widget")
