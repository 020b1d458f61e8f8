"""The team's people: their accounts, how they sign in, and their console sessions.

The command line creates accounts; the console (`companin/console`) signs people in and
out through these functions and keeps only a session's id in its cookie.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

from peewee import IntegrityError

from ..db import write_transaction
from ..enums import USER_ROLES
from ..errors import Conflict, NotFound, Unauthorized, ValidationFailed
from ..models import ConsoleSession, Organization, User, utcnow
from ..passwords import (
    MIN_PASSWORD_LENGTH,
    generate_password,
    hash_password,
    spend_verification_time,
    verify_password,
)

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
    address = normalize_email(email)
    if len(address) > MAX_EMAIL_CHARS or not _EMAIL.match(address):
        raise ValidationFailed("email", "not an email address")
    if role not in USER_ROLES:
        raise ValidationFailed("role", f"must be one of {', '.join(USER_ROLES)}")
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


def _hash(session_id: str) -> str:
    """SHA-256 suffices: the id is random (256 bits), not a password to brute-force."""
    return hashlib.sha256(session_id.encode()).hexdigest()
