"""What the app holds besides its settings, and the one way to reach it.

It is kept in `app.extensions`, out of `app.config`, which may be shown (the signing
key must not be). Code with an app context calls `app_state()`; the command line,
which holds an app but may have no context yet, calls `state_of(app)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from .services.answers import AnswerSettings
from .services.ingestion import Ingestion

EXTENSION = "companin"


@dataclass(frozen=True)
class AppState:
    """Built once by `create_app`."""

    signing_key: bytes
    ingestion: Ingestion
    answers: AnswerSettings


def state_of(app: Flask) -> AppState:
    """The state of `app`, with or without an app context."""
    return app.extensions[EXTENSION]


def app_state() -> AppState:
    """The state of the app handling this request (or command)."""
    return state_of(current_app)
