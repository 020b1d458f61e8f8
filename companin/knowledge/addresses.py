"""Decide whether a URL may be fetched: which addresses its host means, and whether each is public.

A URL given to the knowledge base is chosen by a customer of the install, so fetching it is
a classic server-side request forgery risk: it could point at the cloud metadata service,
at the admin port of something on the same host, or at the office network. `check_url`
therefore, before anything is sent:

- accepts only http and https URLs without user names or passwords;
- reads the host as the resolver would (IDNA names, and IPv4 literals in any notation
  inet_aton accepts, such as 2130706433 or 0x7f.1);
- resolves the host itself and refuses it when ANY address it resolves to is not a public
  one (private, loopback, link-local, carrier-grade NAT, multicast, reserved, unspecified,
  site-local, or an IPv6 form that embeds such an IPv4 address).

It returns the addresses it checked (`check_target` also the host name as sent), so that the
fetcher connects to exactly those.

`allow_private=True` (COMPANIN_INGEST_ALLOW_PRIVATE_URLS=1) is for intranet installs and
tests: it allows private, loopback, CGNAT and site-local addresses, but never link-local
(where cloud metadata services live), multicast, reserved or unspecified ones, which no
web page is served from.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import idna  # requests' own dependency: hosts are encoded as requests encodes them

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# The fetch errors live here, with the first thing that raises them: the check refuses a URL
# (UnsafeURL) or fails to resolve its host (FetchError) before the fetcher is involved.
class FetchError(Exception):
    """A page that could not be fetched. The message is shown to the user as the source's error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnsafeURL(FetchError):
    """A URL refused before any connection: wrong scheme, credentials, or a non-public address."""


# --- Which addresses may be reached -------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo, local NAT64, IPv4-compatible)."""
    found = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64_LOCAL or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _refusal(ip: IPAddress, allow_private: bool) -> tuple[IPAddress, str] | None:
    """Why `ip` may not be reached: the offending address (`ip` or one it embeds) and its
    kind of range; None when it may be reached."""
    if isinstance(ip, ipaddress.IPv6Address):
        # The kernel sends ::ffff:a.b.c.d to a.b.c.d, and a NAT64 gateway 64:ff9b::a.b.c.d
        # to a.b.c.d: such addresses are judged as the IPv4 address they stand for.
        if ip.ipv4_mapped is not None:
            return _refusal(ip.ipv4_mapped, allow_private)
        if ip in _NAT64:
            return _refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow_private)
        for inner in _embedded_ipv4(ip):
            refused = _refusal(inner, allow_private)
            if refused:
                return refused
    kind = _range_kind(ip, allow_private)
    return (ip, kind) if kind else None


def _range_kind(ip: IPAddress, allow_private: bool) -> str | None:
    # Never a web page, whatever the setting: the metadata service sits on link-local.
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:  # before "reserved", which in IPv6 (::/8) includes ::1
        return None if allow_private else "loopback"
    if ip.is_reserved:
        return "reserved"
    if allow_private:
        return None
    if ip in _CGNAT:
        return "carrier-grade NAT"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private or ip in _NAT64_LOCAL:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read `host` the way inet_aton does: 2130706433, 0177.0.0.1, 0x7f000001 and 127.1 all
    mean 127.0.0.1 to the resolver, so they must mean it to the check too."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9a-fA-F]*", part):
            numbers.append(int(part[2:] or "0", 16))
        elif re.fullmatch(r"0[0-7]*", part):
            numbers.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            numbers.append(int(part))
        else:
            return None
    *head, last = numbers
    # Each leading part is one byte; the last fills the bytes that remain.
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ascii_host(host: str) -> str:
    """The host as DNS and requests see it (IDNA), so we check the name that is sent."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError is one
        raise UnsafeURL(f"the host name {host!r} is not valid") from exc


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve the host name {host!r}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchError(f"the host name {host!r} has no address")
    return addresses


def check_url(url: str, allow_private: bool = False) -> list[str]:
    """Check that `url` may be fetched; return the addresses a connection may then use.

    Raises UnsafeURL for a refused URL (scheme, credentials, a non-public address among those
    the host resolves to) and FetchError when the host does not resolve. Nothing is sent to
    the host: a literal address is never resolved, a name only through the system resolver.
    """
    return check_target(url, allow_private)[1]


def check_target(url: str, allow_private: bool) -> tuple[str, list[str]]:
    """`check_url`, also returning the host name as it is sent (IDNA): the fetcher pins its
    connection to the returned addresses and keeps the name for Host, SNI and the certificate."""
    if _CONTROL_CHARS.search(url):
        raise UnsafeURL("the URL contains control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(f"only http and https URLs can be fetched, not {scheme or 'no scheme'}:")
    if "@" in parts.netloc:
        raise UnsafeURL("URLs with a user name or password are refused")
    if "\\" in parts.netloc:
        raise UnsafeURL("the URL's host part contains a backslash")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    host = _ascii_host(parts.hostname)
    port = port or (443 if scheme == "https" else 80)

    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = _loose_ipv4(host)
    addresses = [literal] if literal is not None else _resolve(host, port)
    for ip in addresses:
        refused = _refusal(ip, allow_private)
        if refused:
            offending, kind = refused
            address = f"{ip}" if offending == ip else f"{ip} (which embeds {offending})"
            if literal is None:
                subject = f"{host} resolves to {address},"
            elif host.strip("[]") != ip.compressed:
                subject = f"{host} is {address},"  # an odd notation: show what it means
            else:
                subject = f"{address} is"
            article = "an" if kind[0] in "aeiou" else "a"
            raise UnsafeURL(f"refused: {subject} {article} {kind} address, not a public one")
    # Scope ids (fe80::1%eth0) never get here: link-local addresses are always refused.
    return host, [ip.compressed for ip in addresses]
