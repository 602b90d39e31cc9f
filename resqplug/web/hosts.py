"""The host names the dashboard answers to: its defence against DNS rebinding.

A page on a domain the attacker controls can re-point that domain at 127.0.0.1
and then talk to a dashboard bound there; the browser sends the attacker's
name in the Host header (and Origin). So the Host of every request, and the
Origin/Referer of every action, must name one of the dashboard's own hosts:
the loopback names (always), plus the names it was given. No web extra needed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..errors import ConfigError

_AUTHORITY = re.compile(
    r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::(?P<port>\d{1,5}))?"
)
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
LOOPBACK_NAMES = "localhost, *.localhost, 127.0.0.0/8, [::1]"


def _host(v6: str | None, name: str | None) -> str | None:
    """The normalized host (lower case, no brackets or trailing dot), or None."""
    if v6 is not None:
        try:
            return str(ipaddress.IPv6Address(v6))
        except ValueError:
            return None
    name = (name or "").removesuffix(".")
    if not name or len(name) > 253 or not all(map(_LABEL.fullmatch, name.split("."))):
        return None
    return name


def split_authority(authority: str) -> tuple[str, int | None] | None:
    """(host, port) of a Host header or a URL's authority; None if malformed."""
    match = _AUTHORITY.fullmatch(authority.lower())
    if match is None:
        return None
    host = _host(match["v6"], match["name"])
    port = int(match["port"]) if match["port"] else None
    if host is None or (port is not None and not 0 < port <= 65535):
        return None
    return host, port


def _invalid(entry: object) -> ConfigError:
    return ConfigError(
        f"invalid allowed host {entry!r}: give a host name, an IP address or a network "
        "(no scheme, port or path), e.g. 'dash.example.com' or '10.0.0.0/8'"
    )


def normalize_host(entry: str) -> str:
    """An allowed-hosts name as it is compared: a host name or an IP address,
    no scheme, port or path (ConfigError naming the entry otherwise)."""
    if not isinstance(entry, str):
        raise _invalid(entry)
    with contextlib.suppress(ValueError):  # an IP address, IPv6 without brackets too
        return str(ipaddress.ip_address(entry.strip()))
    parsed = split_authority(entry.strip())
    if parsed is None or parsed[1] is not None:
        raise _invalid(entry)
    return parsed[0]


def parse_network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An allowed-hosts network ('10.0.0.0/8'): any address in it is allowed."""
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise _invalid(entry) from None


def is_loopback_name(host: str) -> bool:
    """localhost and its subdomains (RFC 6761: browsers resolve them to
    loopback themselves, so no DNS answer can rebind them), or a loopback IP."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    """The loopback names plus ``entries``: host names, IP addresses, and
    networks (any address in them). An address cannot be rebound, as a name
    can: a page whose URL names an address is served from that address."""

    def __init__(self, entries: Iterable[str] | str = ()) -> None:
        if isinstance(entries, str):  # one name, not its letters
            entries = [entries]
        entries = list(entries)
        nets = [e for e in entries if isinstance(e, str) and "/" in e]
        self.networks = tuple(parse_network(e) for e in nets)
        self.names = frozenset(normalize_host(e) for e in entries if e not in nets)

    def allows(self, host: str) -> bool:
        if is_loopback_name(host) or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def public(self) -> list[str]:
        """The entries that reach the dashboard from elsewhere than this machine."""
        names = [n for n in self.names if not is_loopback_name(n)]
        return sorted(names) + [str(n) for n in self.networks if not n.is_loopback]

    def refusal(self, host_headers: list[bytes]) -> str | None:
        """Why a request with these Host headers is refused, or None."""
        if len(host_headers) != 1:
            return "no Host header" if not host_headers else "more than one Host header"
        raw = host_headers[0].decode("latin-1")
        parsed = split_authority(raw)
        if parsed is None:
            return f"malformed Host header {raw[:100]!r}"
        if not self.allows(parsed[0]):
            return (
                f"host {parsed[0][:100]!r} is not served here (besides {LOOPBACK_NAMES}, "
                "only those given to create_app(allowed_hosts=...) or resqplug web --allow-host)"
            )
        return None

    def is_own_origin(self, url: str, scheme: str, port: int | None) -> bool:
        """Whether ``url`` (an Origin or a Referer) is this dashboard: the
        request's scheme and port, and an allowed host."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        parsed = split_authority(parts.netloc)
        if parts.scheme != scheme or parsed is None:
            return False
        default = DEFAULT_PORTS.get(scheme)
        return self.allows(parsed[0]) and (parsed[1] or default) == (port or default)
