"""The caller's address that policies' ``acs:SourceIp`` and the operation log see: the connection's own unless
Berth runs behind the reverse proxy of ``BERTH_BEHIND_PROXY``, then the address that proxy saw."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory

from console.middleware import client_ip


def test_forwarded_addresses_are_not_believed_when_berth_listens_directly(settings: Any) -> None:
    settings.BERTH_BEHIND_PROXY = False
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="10.1.2.3", REMOTE_ADDR="203.0.113.9")
    assert client_ip(request) == "203.0.113.9"


def test_behind_the_proxy_the_address_it_saw_counts_not_what_the_client_claims(settings: Any) -> None:
    settings.BERTH_BEHIND_PROXY = True
    claimed = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.7", REMOTE_ADDR="127.0.0.1")
    assert client_ip(claimed) == "198.51.100.7"
    direct = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
    assert client_ip(direct) == "127.0.0.1"
