"""The console's Insights: what customers asked, how the assistant did, and the questions
it could not answer, grouped, each one click away from becoming a Q&A pair."""

from __future__ import annotations

import uuid

from flask import render_template, request

from ..errors import CompaninError, NotFound
from ..extensions import limiter
from ..services import assistants
from ..services import insights as numbers
from ..state import app_state
from .blueprint import blp
from .guard import console_principal, console_requires

_SHORTER = ", ".join(str(days) for days in numbers.PERIODS[:-1])
BAD_PERIOD = f"A period is the last {_SHORTER} or {numbers.PERIODS[-1]} days."


@blp.get("/insights")
@limiter.exempt
@console_requires("agent")
def insights() -> str:
    """Messages per day, replies answered and handed off, thumbs, and the questions the
    assistant could not answer, for the last 7, 30 or 90 days (`?days=`), of one
    assistant (`?assistant=<id>`) or all."""
    principal = console_principal()
    period = numbers.Period(_days(), _assistant_id())
    if period.assistant_id is not None:
        assistants.get_assistant(principal, period.assistant_id)  # another org's: 404
    return render_template(
        "console/insights.html",
        insights=numbers.insights(principal, period, app_state().ingestion.index),
        period=period,
        periods=numbers.PERIODS,
        assistants=list(assistants.list_assistants(principal)),
        percent=percent,
    )


def _days() -> int:
    """The period asked for; a value the form does not offer is a 400 page, not a guess."""
    asked = request.args.get("days", "").strip()
    if not asked:
        return numbers.DEFAULT_DAYS
    if asked not in {str(days) for days in numbers.PERIODS}:
        raise CompaninError(BAD_PERIOD)
    return int(asked)


def _assistant_id() -> uuid.UUID | None:
    """The assistant asked for, if any; a malformed id is as missing as another
    organization's (a 404 page)."""
    asked = request.args.get("assistant", "").strip()
    if not asked:
        return None
    try:
        return uuid.UUID(asked)
    except ValueError:
        raise NotFound("Assistant not found") from None


def percent(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percentage, for people ("—" of nothing)."""
    return f"{round(100 * part / whole)}%" if whole else "—"
