"""Passwords of the team's people: hashed with scrypt, checked in constant time.

scrypt is memory-hard and in the standard library: guessing a stolen hash costs 16 MiB
and tens of milliseconds per try. The parameters are stored with each hash, so they can
be raised later without making the existing hashes unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
# Room for scrypt's 128 * r * n bytes at the parameters above, and at twice them.
MAX_MEMORY = 64 * 1024 * 1024

# For passwords a person types; generated ones are longer.
MIN_PASSWORD_LENGTH = 12


def generate_password() -> str:
    """A random password of 24 characters (144 bits), to be shown once."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, salt and hash in base64."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, N, R, P)
    return "$".join((SCHEME, str(N), str(R), str(P), _b64(salt), _b64(key)))


def verify_password(password: str, stored: str) -> bool:
    """Does `password` match `stored` (a `hash_password` result)? False for a malformed one."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != SCHEME:
            return False
        key = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(key, base64.b64decode(expected))
    except ValueError:
        return False


def spend_verification_time(password: str) -> None:
    """Take as long as `verify_password` does, for a sign-in with no account behind it:
    a quick refusal would tell which email addresses have one."""
    verify_password(password, _dummy_hash())


@cache
def _dummy_hash() -> str:
    return hash_password(generate_password())


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=KEY_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
