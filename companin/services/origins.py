"""Which web origins may use an organization's widgets.

An organization's widget configs may list `allowed_origins`. Their union is the
organization's policy; an organization that lists none accepts any origin. A page this
server serves itself (the console's widget preview) is always accepted: callers mark its
origin with `as_sent`.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from ..models import Organization, WidgetConfig


def normalize(origin: str | None) -> str | None:
    """`scheme://host[:port]` in lower case, or None for anything that is not an origin."""
    if not origin:
        return None
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        return None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    suffix = f":{port}" if port and port != default_port else ""
    return f"{parts.scheme}://{host}{suffix}"


class OwnOrigin(str):
    """This server's own origin, as `as_sent` found it in a request.

    A type rather than a value, so that no Origin header can pass for it."""


def as_sent(origin: str | None, own_url: str) -> str | None:
    """A request's Origin header as `is_allowed` takes it: marked as the server's own when
    it is the origin of `own_url`, the address the request reached."""
    sent = normalize(origin)
    if sent is not None and sent == normalize(own_url.rstrip("/")):
        return OwnOrigin(sent)
    return origin


def policy(org_id: uuid.UUID) -> set[str] | None:
    """The origins the organization allows, or None when it allows any."""
    query = WidgetConfig.select(WidgetConfig.allowed_origins).where(
        WidgetConfig.organization == org_id
    )
    listed = {origin for (allowed,) in query.tuples() for origin in allowed or []}
    return listed or None


def is_allowed(org_id: uuid.UUID, origin: str | None) -> bool:
    """May a browser at `origin` use this organization's widgets?

    A request without an Origin header is refused once origins are configured:
    the widget always runs in a browser, which always sends one. The server's own origin
    (see `as_sent`) is always allowed: a page it serves is its own.
    """
    if isinstance(origin, OwnOrigin):
        return True
    allowed = policy(org_id)
    return allowed is None or normalize(origin) in allowed


def allowed_by_any_organization(origin: str | None) -> bool:
    """For preflights, which carry no credentials: does any organization accept `origin`?"""
    wanted = normalize(origin)
    if wanted is None:
        return False
    per_org: dict[uuid.UUID, set[str]] = {}
    query = WidgetConfig.select(WidgetConfig.organization, WidgetConfig.allowed_origins)
    for org_id, allowed in query.tuples():
        per_org.setdefault(org_id, set()).update(allowed or [])
    if any(not allowed or wanted in allowed for allowed in per_org.values()):
        return True
    # An organization without any widget config accepts any origin as well.
    unrestricted = Organization.select()
    if per_org:
        unrestricted = unrestricted.where(Organization.id.not_in(list(per_org)))
    return unrestricted.exists()
