"""The console's inbox: the chats, those handed off on top, and each one's transcript."""

from __future__ import annotations

import uuid

from flask import render_template

from ..extensions import limiter
from .blueprint import blp
from .guard import console_requires

CHAT_KINDS = ("session", "conversation")


@blp.get("/")
@limiter.exempt
@console_requires("agent")
def home() -> str:
    return render_template("console/home.html")


@blp.get("/chats/<any(session, conversation):kind>/<uuid:chat_id>")
@limiter.exempt
@console_requires("agent")
def chat(kind: str, chat_id: uuid.UUID) -> str:
    """A chat's transcript (links elsewhere use `url_for("console.chat", kind, chat_id)`)."""
    return render_template("console/placeholder.html", title="Transcript")
