"""No server-side request forgery: the server fetches only from public addresses.

A URL sent to the API could name the machine itself, the private network behind it or
a cloud metadata address. The host is resolved once and every address it resolves to
must be public (or in a network the operator allowed); the request then goes to that
checked address, so a DNS answer that changes between the check and the connection
(DNS rebinding) cannot steer it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from qa.errors import FetchError, UnsafeAddressError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Which addresses may be fetched from: public ones, and those in ``allow``."""

    allow: Sequence[Network] = ()

    def resolve(self, url: str, host: str, port: int) -> Address:
        """The address to connect to for ``host``; UnsafeAddressError if any is not public."""
        addresses = resolve(url, host, port)
        for address in addresses:
            if not self.permits(address):
                raise UnsafeAddressError(
                    f"{url}: {host} is {address}, a {_kind(address)} address; the server "
                    "fetches only from public addresses (list the network in "
                    "QA_FETCH_ALLOW_NETWORKS to allow it, e.g. QA_FETCH_ALLOW_NETWORKS="
                    f"{_network_of(address)})"
                )
        return addresses[0]

    def permits(self, address: Address) -> bool:
        plain = _unmapped(address)
        if any(plain in network for network in self.allow):
            return True
        return plain.is_global and not plain.is_multicast


def resolve(url: str, host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise FetchError(
            f"{url}: the host {host} cannot be found ({reason}); check the address"
        ) from None
    # The scope of a link-local IPv6 address ("%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]


def _unmapped(address: Address) -> Address:
    """::ffff:127.0.0.1 is 127.0.0.1, and is judged as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _kind(address: Address) -> str:
    plain = _unmapped(address)
    for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(plain, f"is_{name}"):
            return name.replace("_", "-")
    return "non-public"


def _network_of(address: Address) -> str:
    plain = _unmapped(address)
    if plain.is_loopback:
        return "127.0.0.0/8" if plain.version == 4 else "::1/128"
    prefix = 32 if plain.version == 4 else 128
    return f"{plain}/{prefix}"
