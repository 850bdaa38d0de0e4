"""The websocket accepts only the console's own pages: the Origin must be exactly the console's origin (scheme,
host and port) or a trusted one (issue 9, low item)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from accounts.models import User
from tests.security.live_sockets import HOST, communicator, memory_layer, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("memory_layer")]
__all__ = ["memory_layer"]


def opens(cookie: str, origin: str, host: str = HOST) -> bool:
    async def run() -> bool:
        socket = communicator(cookie, origin=origin, host=host)
        connected, _code = await socket.connect()
        await socket.disconnect()
        return connected

    return async_to_sync(run)()


def test_page_on_another_port_of_the_same_host_cannot_open_the_socket(owner: User) -> None:
    cookie = session_cookie(owner)
    assert not opens(cookie, "http://127.0.0.1:8080")  # the console listens on 127.0.0.1:8000
    assert not opens(cookie, "http://127.0.0.1")
    assert not opens(cookie, "https://127.0.0.1:8000")
    assert not opens(cookie, "http://evil.example:8000")
    assert not opens(cookie, "")
    assert not opens(cookie, "http://127.0.0.1:8000", host="evil.example:8000")  # a host that is not allowed
    assert opens(cookie, "http://127.0.0.1:8000")
    assert opens(cookie, "http://localhost:8000", host="localhost:8000")


def test_trusted_origins_may_open_the_socket(owner: User, settings: object) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]  # type: ignore[attr-defined]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "console.example.com"]  # type: ignore[attr-defined]
    cookie = session_cookie(owner)
    assert opens(cookie, "https://console.example.com", host="127.0.0.1:8000")
    assert not opens(cookie, "https://console.example.com:8443", host="127.0.0.1:8000")


def test_wildcard_trusted_origins_open_the_socket_as_they_pass_django_csrf_check(owner: User, settings: object) -> None:
    """``https://*.example.com`` in CSRF_TRUSTED_ORIGINS admits the domain and its subdomains with that scheme (and
    no other port), as Django's CSRF check does for forms (review of issue 9, F14)."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com", "http://*.lab.test:8080"]  # type: ignore[attr-defined]
    cookie = session_cookie(owner)
    assert opens(cookie, "https://console.example.com")
    assert opens(cookie, "https://a.b.example.com")
    assert opens(cookie, "http://ops.lab.test:8080")
    assert not opens(cookie, "http://console.example.com")  # another scheme
    assert not opens(cookie, "https://console.example.com:8443")  # another port
    assert not opens(cookie, "https://console.example.com.evil.test")
    assert not opens(cookie, "https://evilexample.com")
    assert not opens(cookie, "http://ops.lab.test")  # the entry names a port


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_only_when_configured(owner: User, settings: object) -> None:
    """Behind the reverse proxy of BERTH_BEHIND_PROXY the page is https although the socket reaches Berth as ws;
    without that switch, a client's own X-Forwarded-Proto is not believed."""
    cookie = session_cookie(owner)

    def opens_forwarded(origin: str) -> bool:
        async def run() -> bool:
            socket = communicator(cookie, origin=origin)
            socket.scope["headers"].append((b"x-forwarded-proto", b"https"))
            connected, _code = await socket.connect()
            await socket.disconnect()
            return connected

        return async_to_sync(run)()

    settings.CSRF_TRUSTED_ORIGINS = []  # type: ignore[attr-defined]
    settings.BERTH_BEHIND_PROXY = False  # type: ignore[attr-defined]
    assert not opens_forwarded("https://127.0.0.1:8000")
    settings.BERTH_BEHIND_PROXY = True  # type: ignore[attr-defined]
    assert opens_forwarded("https://127.0.0.1:8000")
    assert not opens_forwarded("http://127.0.0.1:8000")
