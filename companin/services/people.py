"""The team's people: their accounts, how they sign in, their console sessions, their
roles and the invitations that bring new people in.

The command line creates accounts, and so does accepting an invitation; the console
(`companin/console`) signs people in and out through these functions and keeps only a
session's id in its cookie. An invitation's link carries a token the server keeps only as a
hash, like a session's id.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

from peewee import IntegrityError, ModelSelect

from ..db import write_transaction
from ..enums import USER_ROLES
from ..errors import CompaninError, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from ..identity import Principal
from ..models import ConsoleSession, Invitation, Organization, User, utcnow
from ..passwords import (
    MIN_PASSWORD_LENGTH,
    generate_password,
    hash_password,
    spend_verification_time,
    verify_password,
)
from .records import get_owned, owned

# One answer whatever was wrong, so that a sign-in form cannot be asked who has an account.
SIGN_IN_REFUSED = "Wrong email address or password"

# A session's last_seen_at is written at most this often: on every page it would make each
# page a write, and SQLite has one write lock for everybody.
LAST_SEEN_EVERY = timedelta(minutes=5)

# Enough to catch a typo or a name pasted in the wrong place; whether the address
# receives mail is not Companin's to know.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_CHARS = 254
MAX_NAME_CHARS = 200

# Long enough to reach the person and for them to find a quiet moment; short enough that
# a link lying in an old mailbox or chat stops working.
INVITATION_TTL = timedelta(days=7)


class InvitationGone(CompaninError):
    """An invitation link that worked once: used, or expired."""

    code = 410
    description = "This invitation can no longer be used"


def normalize_email(email: str) -> str:
    """The stored form of an address: one person whatever case it is typed in."""
    return email.strip().lower()


def create_user(
    org_id: uuid.UUID | str,
    email: str,
    role: str,
    display_name: str | None = None,
    password: str | None = None,
) -> tuple[User, str]:
    """A person of the organization, and their password: the one given, or a generated one
    that exists only in the result (it is stored as a hash)."""
    address = _checked_email(email)
    _check_role(role)
    name = (display_name or "").strip() or address.partition("@")[0]
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed("name", f"at most {MAX_NAME_CHARS} characters")
    if password is None:
        password = generate_password()
    elif len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    if Organization.get_or_none(Organization.id == org_id) is None:
        raise NotFound(f"No organization {org_id}")
    password_hash = hash_password(password)  # before the transaction: it takes a while
    try:
        with write_transaction():
            user = User.create(
                organization=org_id,
                email=address,
                display_name=name,
                role=role,
                password_hash=password_hash,
            )
    except IntegrityError:  # the unique index on email: checked there, so no race
        raise Conflict(f"The email address {address} is already used") from None
    return user, password


def authenticate(email: str, password: str) -> User:
    """The active person with this address and password, or Unauthorized (one message)."""
    user = User.get_or_none(User.email == normalize_email(email))
    if user is None:
        spend_verification_time(password)  # as slow as a wrong password, so as not to tell
    elif verify_password(password, user.password_hash) and user.is_active:
        return user
    raise Unauthorized(SIGN_IN_REFUSED)


def start_session(user: User, ttl: timedelta) -> tuple[str, str]:
    """Sign `user` in for `ttl`: the session id for the cookie, and its CSRF token."""
    session_id, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction():
        # Sessions nobody signed out of would pile up; signing in is rare enough to sweep.
        ConsoleSession.delete().where(ConsoleSession.expires_at <= now).execute()
        ConsoleSession.create(
            session_hash=_hash(session_id),
            user=user,
            csrf_token=csrf_token,
            expires_at=now + ttl,
            last_seen_at=now,
        )
    return session_id, csrf_token


def session_user(session_id: str | None) -> tuple[User, ConsoleSession] | None:
    """The signed-in person and their session, or None when the id is unknown or expired or
    the person was deactivated. The user comes with their organization loaded."""
    if not session_id:
        return None
    session = (
        ConsoleSession.select(ConsoleSession, User, Organization)
        .join(User)
        .join(Organization)
        .where(ConsoleSession.session_hash == _hash(session_id))
        .first()
    )
    now = utcnow()
    if session is None or session.expires_at <= now or not session.user.is_active:
        return None
    if now - session.last_seen_at >= LAST_SEEN_EVERY:
        with write_transaction():
            ConsoleSession.update(last_seen_at=now).where(ConsoleSession.id == session.id).execute()
        session.last_seen_at = now
    return session.user, session


def end_session(session_id: str | None) -> None:
    """Sign the session out: its id stops working at once."""
    if not session_id:
        return
    with write_transaction():
        ConsoleSession.delete().where(ConsoleSession.session_hash == _hash(session_id)).execute()


# --- the team: roles and who may still sign in -------------------------------------------


def list_people(principal: Principal) -> ModelSelect:
    """The organization's people, in the order they joined."""
    return owned(User, principal.org_id)


def may_grant(role: str, granted: str) -> bool:
    """May a person with `role` make someone `granted`? Only a role no higher than theirs:
    an admin brings in admins and agents, only an owner brings in owners."""
    return USER_ROLES.index(granted) >= USER_ROLES.index(role)


def change_role(principal: Principal, actor: User, user_id: uuid.UUID, role: str) -> User:
    """Give a person of the organization another role. The organization keeps an active
    owner, and an owner does not demote themselves (another owner may)."""
    _check_role(role)
    with write_transaction():  # the owner count is read under the write lock: no race
        person = get_owned(User, principal.org_id, user_id)
        if person.role == "owner" and role != "owner":
            if person.id == actor.id:
                raise Conflict("You cannot take yourself out of owner: another owner can.")
            _keep_an_active_owner(person)
        person.role = role
        person.save()
    return person


def set_active(principal: Principal, actor: User, user_id: uuid.UUID, active: bool) -> User:
    """Deactivate a person (they are signed out at once and cannot sign in) or let them
    back in. Nobody deactivates themselves, nor the last active owner."""
    with write_transaction():
        person = get_owned(User, principal.org_id, user_id)
        if not active:
            if person.id == actor.id:
                raise Conflict("You cannot deactivate yourself.")
            if person.role == "owner":
                _keep_an_active_owner(person)
            ConsoleSession.delete().where(ConsoleSession.user == person).execute()
        person.is_active = active
        person.save()
    return person


def _keep_an_active_owner(leaving: User) -> None:
    """Refuse when `leaving` is the organization's only active owner."""
    others = User.select().where(
        User.organization == leaving.organization_id,
        User.role == "owner",
        User.is_active == True,  # noqa: E712 (a peewee expression, not a comparison)
        User.id != leaving.id,
    )
    if not others.exists():
        raise Conflict(
            f"{leaving.display_name} is the organization's last active owner: "
            "make someone else owner first."
        )


# --- invitations -------------------------------------------------------------------------


def invite(principal: Principal, inviter: User, email: str, role: str) -> tuple[Invitation, str]:
    """An invitation for `email` to join as `role`, and the token of its link: it exists
    only in the result (the server keeps its hash), for the inviter to pass on."""
    address = _checked_email(email)
    _check_role(role)
    if not may_grant(inviter.role, role):
        raise Forbidden(f"An {inviter.role} cannot invite an {role}: ask an owner.")
    if User.select().where(User.email == address).exists():
        raise Conflict(f"The email address {address} is already used")
    if pending_invitations(principal).where(Invitation.email == address).exists():
        raise Conflict(f"{address} is already invited: revoke that invitation first.")
    token = secrets.token_urlsafe(32)
    with write_transaction():
        invitation = Invitation.create(
            organization=principal.org_id,
            email=address,
            role=role,
            token_hash=_hash(token),
            invited_by=inviter,
            expires_at=utcnow() + INVITATION_TTL,
        )
    return invitation, token


def pending_invitations(principal: Principal) -> ModelSelect:
    """The organization's invitations neither accepted nor expired, oldest first."""
    return owned(Invitation, principal.org_id).where(
        Invitation.accepted_at.is_null(), Invitation.expires_at > utcnow()
    )


def revoke_invitation(principal: Principal, revoker: User, invitation_id: uuid.UUID) -> None:
    """Withdraw a pending invitation: its link stops working. Whoever may invite to a role
    may revoke an invitation to it."""
    invitation = pending_invitations(principal).where(Invitation.id == invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found")
    if not may_grant(revoker.role, invitation.role):
        raise Forbidden(f"An {revoker.role} cannot revoke an invitation to be {invitation.role}.")
    with write_transaction():
        invitation.delete_instance()


def invitation_for(token: str) -> Invitation:
    """The pending invitation of a link's token, with its organization loaded: NotFound for
    a token nobody was given (or revoked), InvitationGone for a used or expired one."""
    invitation = (
        Invitation.select(Invitation, Organization)
        .join(Organization)
        .where(Invitation.token_hash == _hash(token))
        .first()
    )
    if invitation is None:
        raise NotFound(
            "This invitation link is not known: it was revoked, or not copied whole. "
            "Ask whoever invited you for a new one."
        )
    if invitation.accepted_at is not None:
        raise InvitationGone("This invitation was already used. Sign in instead.")
    if invitation.expires_at <= utcnow():
        raise InvitationGone("This invitation has expired. Ask whoever invited you for a new one.")
    return invitation


def accept_invitation(token: str, display_name: str, password: str) -> User:
    """The invited person's account, with the name and password they chose; the link
    stops working."""
    invitation = invitation_for(token)
    # A second acceptance racing this one stops at the unique email: one account at most.
    user, _ = create_user(
        invitation.organization_id, invitation.email, invitation.role, display_name, password
    )
    with write_transaction():
        invitation.accepted_at = utcnow()
        invitation.save()
    return user


def _checked_email(email: str) -> str:
    address = normalize_email(email)
    if len(address) > MAX_EMAIL_CHARS or not _EMAIL.match(address):
        raise ValidationFailed("email", "not an email address")
    return address


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise ValidationFailed("role", f"must be one of {', '.join(USER_ROLES)}")


def _hash(token: str) -> str:
    """SHA-256 suffices: session ids and invitation tokens are random (256 bits), not
    passwords to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()
