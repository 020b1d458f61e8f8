"""The console's Settings section: the team's people, their invitations, and the API keys.

Everyone sees the people and the keys' client ids (public: a site's script tag names
one). Admins and owners invite and revoke invitations; owners change roles, deactivate
people and rotate secrets. An invitation's link and a rotated secret are shown once, in
the answer to the POST that made them: never in a URL, never stored in the clear.
"""

from __future__ import annotations

import uuid

from flask import Response, g, render_template, request, url_for

from ..enums import USER_ROLES
from ..errors import CompaninError
from ..extensions import limiter
from ..models import ApiKey
from ..services import organizations, people
from ..services.records import get_owned, owned
from . import layout
from .blueprint import blp
from .guard import console_principal, console_requires

layout.notices(
    settings_role_changed="Role changed.",
    settings_deactivated="Deactivated: they are signed out and cannot sign in.",
    settings_reactivated="Reactivated: they can sign in again.",
    settings_invitation_revoked="Invitation revoked: its link no longer works.",
)


@blp.get("/settings")
@limiter.exempt
@console_requires("agent")
def settings() -> str:
    """People, pending invitations and API keys."""
    return _settings_page()


@blp.post("/settings/people/<uuid:user_id>/role")
@limiter.exempt
@console_requires("owner")
def settings_role(user_id: uuid.UUID) -> Response | tuple[str, int]:
    """Give a person another role."""
    try:
        people.change_role(
            console_principal(), g.console_user, user_id, request.form.get("role", "")
        )
    except CompaninError as error:
        return _refused(error)
    return layout.done("console.settings", "settings_role_changed")


@blp.post("/settings/people/<uuid:user_id>/active")
@limiter.exempt
@console_requires("owner")
def settings_active(user_id: uuid.UUID) -> Response | tuple[str, int]:
    """Deactivate a person (`active=no`) or reactivate them (`active=yes`)."""
    active = request.form.get("active") == "yes"
    try:
        people.set_active(console_principal(), g.console_user, user_id, active)
    except CompaninError as error:
        return _refused(error)
    return layout.done(
        "console.settings", "settings_reactivated" if active else "settings_deactivated"
    )


@blp.post("/settings/invitations")
@limiter.exempt
@console_requires("admin")
def settings_invite() -> str | tuple[str, int]:
    """Invite someone: the answer shows the link to pass on, once."""
    email, role = request.form.get("email", ""), request.form.get("role", "")
    try:
        invitation, token = people.invite(console_principal(), g.console_user, email, role)
    except CompaninError as error:
        return _refused(error, invite_email=email, invite_role=role)
    link = url_for("console.invitation", token=token, _external=True)
    return render_template("console/settings_invited.html", invitation=invitation, link=link)


@blp.post("/settings/invitations/<uuid:invitation_id>/revoke")
@limiter.exempt
@console_requires("admin")
def settings_revoke(invitation_id: uuid.UUID) -> Response:
    """Withdraw an invitation."""
    people.revoke_invitation(console_principal(), g.console_user, invitation_id)
    return layout.done("console.settings", "settings_invitation_revoked")


@blp.get("/settings/keys/<uuid:key_id>/rotate")
@limiter.exempt
@console_requires("owner")
def settings_rotate_confirm(key_id: uuid.UUID) -> str:
    """Ask before rotating: every server using the old secret stops working."""
    return render_template("console/settings_rotate.html", key=_key(key_id))


@blp.post("/settings/keys/<uuid:key_id>/rotate")
@limiter.exempt
@console_requires("owner")
def settings_rotate(key_id: uuid.UUID) -> str:
    """Replace the key's secret, and show the new one this once."""
    credentials = organizations.rotate_secret(_key(key_id).client_id)
    return render_template("console/settings_secret.html", credentials=credentials)


def _key(key_id: uuid.UUID) -> ApiKey:
    """One of the organization's keys: another organization's is as absent as a missing one."""
    return get_owned(ApiKey, console_principal().org_id, key_id)


def _refused(error: CompaninError, **invite: str) -> tuple[str, int]:
    """The page again, saying why nothing changed."""
    return _settings_page(error=str(error.description), **invite), error.code or 400


def _settings_page(error: str | None = None, invite_email: str = "", invite_role: str = "") -> str:
    principal = console_principal()
    me = g.console_user
    return render_template(
        "console/settings.html",
        people=list(people.list_people(principal)),
        invitations=list(people.pending_invitations(principal)),
        keys=list(owned(ApiKey, principal.org_id)),
        roles=USER_ROLES,
        grantable=[role for role in USER_ROLES if people.may_grant(me.role, role)],
        error=error,
        invite_email=invite_email,
        invite_role=invite_role or USER_ROLES[-1],
    )
