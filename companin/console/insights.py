"""The console's Insights section."""

from __future__ import annotations

from flask import render_template

from ..extensions import limiter
from .blueprint import blp
from .guard import console_requires


@blp.get("/insights")
@limiter.exempt
@console_requires("agent")
def insights() -> str:
    return render_template("console/placeholder.html", title="Insights")
