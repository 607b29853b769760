"""Who may connect, the same on every host: the token compared as bytes in constant time, and
the Host a browser named (a page on another site that re-points its own name at this machine,
DNS rebinding, sends its own name as Host and as Origin: the origin check alone passes it).
Pure: no I/O."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Iterable, Mapping
from urllib.parse import urlsplit

def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time, on UTF-8 bytes: a token of any characters is only wrong, never an error."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def header_token(headers: Mapping[str, str]) -> str | None:
    """``Authorization: token T`` (or ``Bearer T``), as Jupyter and Deepgram take it."""
    scheme, _, secret = (headers.get("authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() in ("token", "bearer") else None


def is_loopback(name: str) -> bool:
    """``localhost``, ``localhost.``, ``127.x.y.z``, ``::1``, ``[::1]``."""
    name = name.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port (``[::1]:8001`` → ``::1``)."""
    return (urlsplit(f"//{host_header}").hostname or "").rstrip(".").lower()


def host_allowed(host_header: str | None, bound: str, allowed_origins: Iterable[str]) -> bool:
    """A server bound to this machine alone answers only to its own names (and the hosts of the
    origins its operator allowed); one bound beyond it needs a token, which a rebinding page lacks."""
    if not is_loopback(bound):
        return True
    name = host_name(host_header or "")
    if not name:
        return host_header is None  # HTTP/1.0 with no Host at all: not a browser
    return is_loopback(name) or name == bound.lower() or any(
        name == (urlsplit(o).hostname or "").lower() for o in allowed_origins)
