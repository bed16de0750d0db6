"""HTTP POST for webhooks, safe against server-side request forgery.

The host is resolved once; every address it resolves to must be public (not
private, loopback, link-local, multicast, reserved, unspecified or otherwise
non-global, IPv4 embedded in IPv6 included), unless the deployment sets
`RANTAI_WEBHOOKS_ALLOW_PRIVATE`. The connection then goes to exactly the address
that was checked (pinned), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect it; for https the certificate is still
verified for the host name (SNI). Redirects are never followed and every socket
operation times out.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The address is not allowed (or the URL cannot be used at all)."""


class LookupTimeout(TimeoutError):
    """The host name was not resolved in time."""


def private_allowed() -> bool:
    return bool(getattr(settings, "RANTAI_WEBHOOKS_ALLOW_PRIVATE", False))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def is_public(address: IPAddress) -> bool:
    """Whether a webhook may connect to the address without the allow setting."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not is_public(embedded):
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def parse_address(text: str) -> IPAddress | None:
    """The IP address of a literal host (None for a name); an IPv6 zone is dropped."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, at least "/"


def parse(url: str) -> Target:
    """The parts of a webhook URL needed to connect (Refused when unusable)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise Refused(f"malformed URL: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not allowed")
    host = parts.hostname or ""
    if not host:
        raise Refused("the URL has no host")
    if parse_address(host) is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise Refused(f"invalid host name: {error}") from error
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


# getaddrinfo has no time limit of its own: lookups run in these threads and the
# caller stops waiting after its timeout (the lookup itself ends when the resolver
# gives up; a few threads bound how many can be left running).
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rantai-dns")


def _lookup(host: str, port: int, timeout: float | None) -> list[Any]:
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise LookupTimeout(f"looking up {host} took longer than {timeout} s") from None


def resolve(
    host: str, port: int, *, allow_private: bool, timeout: float | None = None
) -> list[str]:
    """The addresses to connect to, in resolver order; Refused if any is not
    public (one bad answer is enough: a name that resolves to both kinds is a
    classic way round a check of just the first). A lookup that takes longer
    than `timeout` seconds raises LookupTimeout."""
    try:
        answers = _lookup(host, port, timeout)
    except socket.gaierror as error:
        raise Refused(f"cannot resolve {host}: {error.strerror or error}") from error
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        text = str(sockaddr[0])
        address = parse_address(text)
        if address is None:
            raise Refused(f"{host} resolved to something that is not an address")
        if not allow_private and not is_public(address):
            raise Refused(
                f"{host} resolves to {address}, which is not a public address"
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a checked address; the Host header names the host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address, verifying the certificate for the host name."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: str,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


@cache
def tls_context() -> ssl.SSLContext:
    """Certificate and host name verification on (the platform's trust store);
    made once, shared by every connection."""
    return ssl.create_default_context()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
    context: ssl.SSLContext | None = None,
) -> int:
    """POST the body; the response's status code (redirects are not followed).

    Raises Refused for an address that is not allowed and OSError (timeouts of
    the lookup or the connection, refused connections, TLS errors) or
    http.client.HTTPException for transport failures.
    """
    target = parse(url)
    addresses = resolve(
        target.host, target.port, allow_private=allow_private, timeout=timeout
    )
    last_error: OSError | None = None
    for address in addresses:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                target.host,
                target.port,
                address=address,
                timeout=timeout,
                context=context or tls_context(),
            )
        else:
            connection = _PinnedHTTPConnection(
                target.host, target.port, address=address, timeout=timeout
            )
        try:
            try:
                connection.connect()
            except ssl.SSLError:
                raise  # the host answered: its certificate is the problem
            except OSError as error:
                last_error = error  # unreachable: try the next checked address
                continue
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            return int(response.status)
        finally:
            connection.close()
    raise last_error or OSError("no address to connect to")
