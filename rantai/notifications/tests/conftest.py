from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rantai.accounts.models import Role, User
from rantai.org import membership
from rantai.testing import SmallOrg, make_user

TLS = Path(__file__).resolve().parent / "tls"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on the loopback interface, in a thread: it records every
    request and answers with the next queued status (204 when none is queued)."""

    server: ThreadingHTTPServer
    scheme: str = "http"
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(
                Received("POST", self.path, dict(self.headers.items()), body)
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _serve(receiver: Receiver) -> Iterator[Receiver]:
    thread = threading.Thread(
        target=receiver.server.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(server)
    server.RequestHandlerClass = _handler(receiver)
    yield from _serve(receiver)


@pytest.fixture
def tls_receiver() -> Iterator[Receiver]:
    """The same over TLS, with a certificate for hooks.example.test signed by the
    test CA in tests/tls (valid until 2126); records the SNI name it was asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(server, scheme="https")
    server.RequestHandlerClass = _handler(receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")

    def remember_name(sock: Any, name: Any, ctx: Any) -> None:
        receiver.server_names.append(name)

    context.sni_callback = remember_name
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(receiver)


@pytest.fixture
def trusting_test_ca() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(TLS / "ca.pem"))
    return context


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.RANTAI_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def resolve_to(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[dict[str, list[str]]], list[str]]:
    """Answer DNS from a table: `resolve_to({"hooks.example.test": ["127.0.0.1"]})`;
    returns the list of names looked up. Literal addresses resolve to themselves."""
    looked_up: list[str] = []

    def install(table: dict[str, list[str]]) -> list[str]:
        def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            host = host.decode() if isinstance(host, bytes) else str(host)
            looked_up.append(host)
            addresses = table.get(host, [host])
            answers: list[tuple[Any, ...]] = []
            for address in addresses:
                if ":" in address:
                    answers.append(
                        (
                            socket.AF_INET6,
                            socket.SOCK_STREAM,
                            6,
                            "",
                            (address, port, 0, 0),
                        )
                    )
                else:
                    answers.append(
                        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                    )
            return answers

        monkeypatch.setattr(
            "rantai.notifications.transport.socket.getaddrinfo", fake_getaddrinfo
        )
        return looked_up

    return install


@pytest.fixture
def members(acme: SmallOrg) -> Callable[[int], list[User]]:
    """`members(n)`: n new members of acme."""
    counter = iter(range(1, 10_000))

    def make(count: int, *, language: str = "en") -> list[User]:
        users = []
        for _ in range(count):
            user = make_user(f"m{next(counter)}", language=language)
            membership.add_member(
                acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
            )
            users.append(user)
        return users

    return make
