"""Where ``resqplug web`` listens. The host is resolved the way asyncio (and so
uvicorn) would bind it, the resulting addresses decide whether the bind is
public, and exactly those addresses are bound: what was checked is what is
served (``''`` means every interface, so it is public, not loopback)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from ..errors import ConfigError

Address = tuple[socket.AddressFamily, Any]  # (family, sockaddr)


def resolve(host: str, port: int) -> list[Address]:
    """The addresses a server binds for ``host``: getaddrinfo with AI_PASSIVE,
    as asyncio's create_server does ('' is None there: every interface)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot resolve --host {host!r}: {reason}") from None
    return list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))


def ip_of(address: Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(str(address[1][0]).partition("%")[0])


def all_loopback(addresses: list[Address]) -> bool:
    return bool(addresses) and all(ip_of(a).is_loopback for a in addresses)


def served_addresses(addresses: list[Address]) -> list[str]:
    """The Host values a bind is reached by: each address, or the whole
    family's network for an unspecified one (0.0.0.0/0 for 0.0.0.0)."""
    shown = (f"{ip}/0" if ip.is_unspecified else str(ip) for ip in map(ip_of, addresses))
    return list(dict.fromkeys(shown))


def url(address: Address) -> str:
    ip, port = ip_of(address), address[1][1]
    return f"http://[{ip}]:{port}/" if ip.version == 6 else f"http://{ip}:{port}/"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def served_names(host: str, addresses: list[Address], allow_hosts: tuple[str, ...]) -> list[str]:
    """What the dashboard answers to besides the loopback names: the
    --allow-host entries and, for a public bind, the addresses bound (any
    address for 0.0.0.0 or ::) and the --host name. A name that resolves to
    loopback is not added: a rebinding domain resolves to 127.0.0.1 too."""
    names = list(allow_hosts)
    if not all_loopback(addresses):
        names += served_addresses(addresses)
        wildcard = any(ip_of(a).is_unspecified for a in addresses)
        if host and not wildcard and not _is_ip(host):
            names.append(host)
    return names


def exposure(addresses: list[Address], public_names: list[str]) -> str | None:
    """How the dashboard would be reachable from other machines, or None."""
    if not all_loopback(addresses):
        return "on " + " and ".join(url(a) for a in addresses)
    if public_names:
        return "as " + ", ".join(public_names)
    return None


def bind(addresses: list[Address]) -> list[socket.socket]:
    """A socket bound to each address (not listening yet), as asyncio makes
    them: SO_REUSEADDR, and IPv6 sockets IPv6-only."""
    sockets: list[socket.socket] = []
    try:
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                where = url((family, sockaddr))
                raise ConfigError(f"cannot listen on {where}: {exc.strerror}") from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
