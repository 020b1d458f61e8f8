"""The console's Settings section over HTTP: the team's people and roles, invitations to
join it, and rotating an API key's secret, each only by the roles that may.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

import pytest
from conftest import assert_envelope, console_sign_in
from engines import read_database
from test_console_widgets import PASSWORD, Team, alert, form_token, notice, text

from companin.errors import Conflict
from companin.identity import Principal
from companin.models import ApiKey, Invitation, User, utcnow
from companin.services import people

SETTINGS = "/console/settings"
INVITE = f"{SETTINGS}/invitations"
NEW_PASSWORD = "the newcomer's own password"


@pytest.fixture
def team(app, org, other_org) -> Team:
    return Team(app, org, other_org)


def person(app, email: str) -> User:
    with app.app_context():
        return User.get(User.email == email)


def account(app, team: Team, name: str) -> User:
    """The account of a member of the team (signed in, as they all are)."""
    return person(app, team[name].email)


def user_count(app, **where: str) -> int:
    with app.app_context():
        return User.select().where(*(getattr(User, k) == v for k, v in where.items())).count()


def role_path(user: User) -> str:
    return f"{SETTINGS}/people/{user.id}/role"


def active_path(user: User) -> str:
    return f"{SETTINGS}/people/{user.id}/active"


def invitations(app) -> list[Invitation]:
    with app.app_context():
        return list(Invitation.select())


def invitation_link(response) -> str:
    """The link the inviter copies, from the page that shows it once."""
    found = re.search(r'id="invitation-link">([^<]*)<', text(response))
    assert found, text(response)
    return found.group(1)


# --- people ------------------------------------------------------------------------------


def test_everyone_sees_the_team_but_only_the_owner_gets_the_controls(team):
    owner, admin, agent = team["owner"], team["admin"], team["agent"]

    for member in (owner, admin, agent):
        page = text(member.get(SETTINGS))
        for name in ("Owner Person", "Admin Person", "Agent Person"):
            assert name in page
    owner_page, admin_page, agent_page = (text(m.get(SETTINGS)) for m in (owner, admin, agent))
    assert "Deactivate" in owner_page and "Change role" in owner_page
    assert "Deactivate" not in admin_page and "Change role" not in admin_page
    assert "Create an invitation link" in admin_page
    assert "Create an invitation link" not in agent_page
    # An admin may invite admins and agents; only an owner offers owner.
    assert '<option value="owner"' in owner_page.split('id="invite-role"')[1]
    assert '<option value="owner"' not in admin_page.split('id="invite-role"')[1]


def test_the_owner_changes_a_role_and_the_person_can_do_more_at_once(app, team):
    agent = account(app, team, "agent")
    before = team["agent"].get("/console/widgets/new")
    assert before.status_code == 403

    changed = team["owner"].post(role_path(agent), role="admin")

    assert changed.status_code == 303
    assert notice(team["owner"].get(changed.headers["Location"])) == "Role changed."
    assert person(app, agent.email).role == "admin"
    assert team["agent"].get("/console/widgets/new").status_code == 200  # same session


def test_admins_and_agents_cannot_change_people_even_by_forging_the_form(app, team):
    owner, agent = account(app, team, "owner"), account(app, team, "agent")

    refused = [
        team["admin"].post(role_path(agent), role="admin"),
        team["admin"].post(role_path(owner), role="agent"),
        team["admin"].post(active_path(owner), active="no"),
        team["agent"].post(role_path(agent), role="owner"),
        team["agent"].post(active_path(owner), active="no"),
    ]

    assert [response.status_code for response in refused] == [403] * 5
    assert person(app, owner.email).role == "owner" and person(app, owner.email).is_active
    assert person(app, agent.email).role == "agent"


@pytest.fixture
def owner(app, team) -> User:
    return account(app, team, "owner")


def test_the_last_owner_cannot_leave_owner(app, team, owner):
    demoted = team["owner"].post(role_path(owner), role="admin")
    deactivated = team["owner"].post(active_path(owner), active="no")

    assert demoted.status_code == 409
    assert "cannot take yourself out of owner" in alert(demoted)
    assert deactivated.status_code == 409 and "cannot deactivate yourself" in alert(deactivated)
    assert person(app, owner.email).role == "owner" and person(app, owner.email).is_active
    # Nor may anyone else make the organization ownerless (the service's own rule).
    admin = account(app, team, "admin")
    with app.app_context(), pytest.raises(Conflict, match="last active owner"):
        people.change_role(Principal("console", owner.organization_id), admin, owner.id, "agent")
    with app.app_context(), pytest.raises(Conflict, match="last active owner"):
        people.set_active(Principal("console", owner.organization_id), admin, owner.id, False)
    assert person(app, owner.email).role == "owner"


def test_an_owner_may_hand_over_to_another_owner(app, team, owner):
    admin = account(app, team, "admin")
    assert team["owner"].post(role_path(admin), role="owner").status_code == 303

    # Now the other owner may take the first one out of owner.
    assert team["admin"].post(role_path(owner), role="agent").status_code == 303
    assert person(app, owner.email).role == "agent"


def test_deactivating_signs_them_out_and_reactivating_lets_them_back(app, team):
    agent = account(app, team, "agent")
    email = agent.email

    off = team["owner"].post(active_path(agent), active="no")

    assert off.status_code == 303 and off.headers["Location"].endswith("settings_deactivated")
    assert team["agent"].get(SETTINGS).status_code in (302, 303)  # the session is over
    assert console_sign_in(app.test_client(), email, PASSWORD).status_code == 401
    assert "deactivated" in text(team["owner"].get(SETTINGS))

    on = team["owner"].post(active_path(agent), active="yes")

    assert on.status_code == 303 and person(app, email).is_active
    assert console_sign_in(app.test_client(), email, PASSWORD).status_code == 303


def test_another_organization_cannot_touch_our_people(app, team, owner):
    other = team["other"]

    for response in (
        other.post(role_path(owner), role="agent"),
        other.post(active_path(owner), active="no"),
    ):
        assert response.status_code == 404
    assert person(app, owner.email).role == "owner" and person(app, owner.email).is_active
    page = text(other.get(SETTINGS))
    assert owner.email not in page and team["other"].email in page
    assert team["other"].email not in text(team["owner"].get(SETTINGS))


def test_an_unknown_role_and_a_missing_token_change_nothing(app, team):
    agent = account(app, team, "agent")

    unknown = team["owner"].post(role_path(agent), role="superuser")
    assert unknown.status_code == 422 and "must be one of owner, admin, agent" in alert(unknown)
    for token in (None, "", "x" * 43):
        assert team["owner"].post(role_path(agent), token, role="admin").status_code == 403
        assert team["owner"].post(active_path(agent), token, active="no").status_code == 403
    assert person(app, agent.email).role == "agent" and person(app, agent.email).is_active


# --- invitations -------------------------------------------------------------------------


def invite(member, email: str = "new@acme.example", role: str = "agent", **kwargs):
    return member.post(INVITE, email=email, role=role, **kwargs)


def accept(client, link: str, name: str = "Nia Newcomer", again: str | None = None, **kwargs):
    """Open the invitation link and send its form, as a browser would."""
    path = link.removeprefix("http://localhost")
    form = client.get(path)
    if form.status_code != 200:  # a dead link: the form's token from the sign-in page
        form = client.get("/console/sign-in")
    token = form_token(form)
    fields = {
        "display_name": name,
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD if again is None else again,
        "csrf_token": token,
        **kwargs,
    }
    return client.post(path, data=fields)


def test_an_invitation_link_is_shown_once_and_only_its_hash_is_stored(app, team):
    response = invite(team["admin"], "New@Acme.example", "admin")

    assert response.status_code == 200
    link = invitation_link(response)
    assert re.fullmatch(r"http://localhost/console/invitations/[A-Za-z0-9_-]{43}", link)
    token = link.rsplit("/", 1)[1]
    [stored] = invitations(app)
    assert (stored.email, stored.role) == ("new@acme.example", "admin")
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert timedelta(days=6, hours=23) < stored.expires_at - utcnow() <= timedelta(days=7)
    dump = repr(read_database(app.instance_path, "SELECT * FROM invitation"))
    assert token not in dump
    # The settings page lists it as pending, without its link.
    page = text(team["admin"].get(SETTINGS))
    assert "new@acme.example" in page and token not in page


def test_accepting_an_invitation_creates_the_person_and_signs_them_in(app, team, org, caplog):
    caplog.set_level(logging.INFO)
    link = invitation_link(invite(team["owner"], "nia@acme.example", "agent"))
    browser = app.test_client()

    form = browser.get(link.removeprefix("http://localhost"))
    assert form.status_code == 200
    assert "Org A" in text(form) and "<strong>agent</strong>" in text(form)
    joined = accept(browser, link)

    assert joined.status_code == 303 and joined.headers["Location"].endswith("/console/")
    home = text(browser.get("/console/"))
    assert "Nia Newcomer" in home and "Org A" in home
    nia = person(app, "nia@acme.example")
    assert str(nia.organization_id) == org.organization_id and nia.role == "agent"
    [used] = invitations(app)
    assert used.accepted_at is not None
    assert "Pending invitations" not in text(team["owner"].get(SETTINGS))
    assert console_sign_in(app.test_client(), "nia@acme.example", NEW_PASSWORD).status_code == 303

    # It works once.
    again = app.test_client()
    assert again.get(link.removeprefix("http://localhost")).status_code == 410
    reused = accept(again, link, name="Someone Else")
    assert reused.status_code == 410 and "already used" in text(reused)
    assert user_count(app, display_name="Someone Else") == 0
    # Whoever reads the server's log cannot accept the invitation.
    assert "/console/invitations/… 303" in caplog.text
    assert link.rsplit("/", 1)[1] not in caplog.text


def test_an_expired_or_unknown_invitation_is_refused(app, team):
    link = invitation_link(invite(team["admin"]))
    with app.app_context():
        Invitation.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    browser = app.test_client()

    expired = browser.get(link.removeprefix("http://localhost"))
    unknown = browser.get("/console/invitations/" + "z" * 43)

    assert expired.status_code == 410 and "expired" in text(expired)
    assert unknown.status_code == 404 and "not known" in text(unknown)
    assert accept(browser, link).status_code == 410
    assert user_count(app, email="new@acme.example") == 0


def test_the_invitation_form_needs_its_csrf_token_and_matching_passwords(app, team):
    link = invitation_link(invite(team["admin"]))
    path = link.removeprefix("http://localhost")
    browser = app.test_client()
    fields = {"display_name": "Nia", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}

    assert browser.post(path, data={**fields, "csrf_token": "y" * 43}).status_code == 403
    mismatch = accept(browser, link, again="another password entirely")
    short = accept(browser, link, password="short", again="short")

    assert mismatch.status_code == 422 and "two passwords differ" in alert(mismatch)
    assert short.status_code == 422 and "at least 12 characters" in alert(short)
    assert 'value="Nia Newcomer"' in text(short)
    assert user_count(app, email="new@acme.example") == 0
    assert accept(browser, link).status_code == 303  # still unused


@pytest.mark.parametrize(
    ("email", "role", "status", "message"),
    [
        ("not an address", "agent", 422, "not an email address"),
        ("new@acme.example", "superuser", 422, "must be one of"),
        ("new@acme.example", "owner", 403, "cannot invite an owner"),
    ],
)
def test_a_bad_or_forged_invitation_is_refused_and_nothing_stored(
    app, team, email, role, status, message
):
    response = invite(team["admin"], email, role)

    assert response.status_code == status
    assert message in alert(response)
    assert "invitation-link" not in text(response)
    assert invitations(app) == []


def test_who_may_invite(app, team):
    taken = invite(team["owner"], team["agent"].email)
    assert taken.status_code == 409 and "already used" in alert(taken)
    assert invite(team["agent"]).status_code == 403
    assert invite(team["admin"], token=None).status_code == 403
    assert invitations(app) == []
    assert invite(team["owner"], role="owner").status_code == 200
    twice = invite(team["admin"], role="agent")
    assert twice.status_code == 409 and "already invited" in alert(twice)


def test_revoking_an_invitation_kills_its_link(app, team):
    link = invitation_link(invite(team["admin"]))
    [invitation] = invitations(app)
    revoke = f"{INVITE}/{invitation.id}/revoke"

    assert team["agent"].post(revoke).status_code == 403
    assert team["other"].post(revoke).status_code == 404
    assert len(invitations(app)) == 1
    revoked = team["admin"].post(revoke)

    assert revoked.status_code == 303 and revoked.headers["Location"].endswith("revoked")
    assert invitations(app) == []
    assert app.test_client().get(link.removeprefix("http://localhost")).status_code == 404


# --- API keys ----------------------------------------------------------------------------


def key_of(app, org) -> ApiKey:
    with app.app_context():
        return ApiKey.get(ApiKey.client_id == org.client_id)


def api_status(client, client_id: str, secret: str) -> int:
    headers = {"X-API-Key": client_id, "X-API-Secret": secret}
    return client.get("/api/v1/assistants/", headers=headers).status_code


def test_everyone_sees_the_client_ids_and_only_the_owner_may_rotate(app, team, org):
    key = key_of(app, org)
    rotate = f"{SETTINGS}/keys/{key.id}/rotate"

    for name in ("owner", "admin", "agent"):
        page = text(team[name].get(SETTINGS))
        assert org.client_id in page and org.client_secret not in page
        assert ("Rotate secret" in page) == (name == "owner")
    for name in ("admin", "agent"):
        assert team[name].get(rotate).status_code == 403
        assert team[name].post(rotate).status_code == 403
    assert key_of(app, org).secret_hash == key.secret_hash


def test_rotating_asks_first_then_shows_the_new_secret_once(app, client, team, org, caplog):
    caplog.set_level(logging.DEBUG)
    key = key_of(app, org)
    rotate = f"{SETTINGS}/keys/{key.id}/rotate"

    confirm = team["owner"].get(rotate)
    assert confirm.status_code == 200 and "working at once" in text(confirm)
    assert key_of(app, org).secret_hash == key.secret_hash  # asking changes nothing
    assert team["owner"].post(rotate, token=None).status_code == 403

    rotated = team["owner"].post(rotate)

    assert rotated.status_code == 200  # the secret is in this answer, not behind a redirect
    assert rotated.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-secret">([^<]*)<', text(rotated)).group(1)
    assert secret.startswith("cms_") and secret != org.client_secret
    assert api_status(client, org.client_id, secret) == 200
    assert_envelope(
        client.get(
            "/api/v1/assistants/",
            headers={"X-API-Key": org.client_id, "X-API-Secret": org.client_secret},
        ),
        401,
    )
    assert secret not in text(team["owner"].get(SETTINGS))  # shown once
    assert "POST /console/settings/keys/" in caplog.text and secret not in caplog.text


def test_another_organizations_owner_cannot_rotate_our_key(app, client, team, org):
    key = key_of(app, org)
    rotate = f"{SETTINGS}/keys/{key.id}/rotate"

    assert team["other"].get(rotate).status_code == 404
    assert team["other"].post(rotate).status_code == 404
    assert org.client_id not in text(team["other"].get(SETTINGS))
    assert api_status(client, org.client_id, org.client_secret) == 200
