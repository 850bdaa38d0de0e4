"""HTTPS on the routing service without an engine (issue 13): the tenant's certificate store (checked uploads, sealed,
never shown back, expiry warnings, who may), which certificate covers which domain, the routers' TLS configuration and
files, and the per-route redirect of http to https."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts import operations as ram
from accounts.models import User
from accounts.permissions import grant_role
from apps.models import Application, Service
from clusters import pki
from clusters.models import Cluster
from console.models import OperationLog
from routing import haproxy, routers, sync, tls
from routing.models import Certificate, Listener, Route
from routing.templatetags.routing_tags import addresses_of
from tests.certs import Signer, self_signed, web_certificate
from tests.unit.test_compose_apps_api import client_for

URL = "/api/v1/certificates"


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def issued(names: list[str], by: Signer | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf for ``names`` signed by ``by`` (or self-signed), and its key."""
    return web_certificate(names, issuer=by)


def a_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An issuing CA (Berth's own kind, ``clusters.pki.new_ca``) as objects that sign."""
    pair = pki.new_ca("Test Issuing CA", days=365)
    key = serialization.load_pem_private_key(pair.key_pem.encode(), None)
    return x509.load_pem_x509_certificate(pair.cert_pem.encode()), key  # type: ignore[return-value]


def good(names: tuple[str, ...] = ("secure.example.test",)) -> tuple[str, str]:
    pair = self_signed(list(names), days=90)
    return pair.cert_pem, pair.key_pem


def test_a_chain_in_order_is_read_with_its_names_and_validity() -> None:
    ca = a_ca()
    leaf, key = issued(["www.example.test", "*.api.example.test"], by=ca)
    served = pki.check_served(pem_of(leaf) + pem_of(ca[0]), key_pem_of(key))
    assert served.names == ("www.example.test", "*.api.example.test")
    assert served.subject == "CN=www.example.test" and served.issuer == ca[0].subject.rfc4514_string()
    assert served.chain_pem.count("BEGIN CERTIFICATE") == 2 and "PRIVATE KEY" in served.key_pem
    assert served.fingerprint == leaf.fingerprint(hashes.SHA256()).hex(":")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: (good()[0], good()[1]), "the private key does not match the certificate"),
        (lambda: ("hello", good()[1]), "the certificate is not PEM"),
        (lambda: (good()[0], "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), "not a valid PEM"),
        (lambda: (good()[0], "secret"), "the private key is not PEM"),
        (lambda: (good()[0] + "x" * (65 * 1024), good()[1]), "longer than 64 KiB"),
    ],
)
def test_material_that_does_not_fit_is_refused_saying_why(make, why: str) -> None:
    chain, key = make()
    with pytest.raises(pki.CertificateProblem, match=why):
        pki.check_served(chain, key)


def test_an_expired_certificate_a_chain_out_of_order_and_one_without_names_are_refused() -> None:
    old = self_signed(["old.example.test"], days=10, not_before=datetime.now(UTC) - timedelta(days=40))
    with pytest.raises(pki.CertificateProblem, match="the certificate expired on"):
        pki.check_served(old.cert_pem, old.key_pem)
    ca = a_ca()
    leaf, key = issued(["www.example.test"], by=ca)
    with pytest.raises(pki.CertificateProblem, match="the chain is out of order"):
        pki.check_served(pem_of(ca[0]) + pem_of(leaf), key_pem_of(ca[1]))
    other_ca = a_ca()
    with pytest.raises(pki.CertificateProblem, match="is not signed by the certificate after it"):
        pki.check_served(pem_of(leaf) + pem_of(other_ca[0]), key_pem_of(key))
    nameless, key = issued([])
    with pytest.raises(pki.CertificateProblem, match="names no DNS name"):
        pki.check_served(pem_of(nameless), key_pem_of(key))


@pytest.mark.parametrize(
    ("names", "domain", "covered"),
    [
        (["www.example.test"], "www.example.test", True),
        (["www.example.test"], "WWW.example.test", True),
        (["*.example.test"], "shop.example.test", True),
        (["*.example.test"], "example.test", False),
        (["*.example.test"], "a.b.example.test", False),
        (["example.test"], "www.example.test", False),
    ],
)
def test_which_certificate_covers_a_domain(names: list[str], domain: str, covered: bool) -> None:
    assert tls.covers(names, domain) is covered


def test_an_upload_is_stored_sealed_and_never_shown_back(owner: User) -> None:
    chain, key = good(("secure.example.test", "www.example.test"))
    api = client_for(owner)
    made = api.post(URL, {"name": "web", "certificate": chain, "key": key}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["names"] == ["secure.example.test", "www.example.test"] and body["expiring"] is False
    assert body["resource_name"] == f"acs:cs:*:{owner.tenant_id}:certificate/web"
    row = Certificate.objects.get()
    assert key.split("\n")[1] not in row.key_sealed and "BEGIN" not in row.chain_sealed
    assert pki.unseal(row.key_sealed, secret=settings.BERTH_ENCRYPTION_KEY).strip() == key.strip()
    for shown in (api.get(URL).content, api.get(f"{URL}/{row.pk}").content, made.content):
        assert b"PRIVATE KEY" not in shown and key.split("\n")[1].encode() not in shown
    entry = OperationLog.objects.get(action="cs:UploadCertificate")
    assert entry.target == "web" and entry.parameters["names"] == ["secure.example.test", "www.example.test"]
    assert "PRIVATE" not in str(entry.parameters) and "BEGIN" not in str(entry.parameters)
    assert api.delete(f"{URL}/{row.pk}").status_code == 204
    assert not Certificate.objects.exists() and OperationLog.objects.filter(action="cs:DeleteCertificate").exists()


def test_a_refused_upload_says_why_and_stores_nothing(owner: User) -> None:
    api = client_for(owner)
    chain, _key = good()
    _other, key = good()
    old = self_signed(["old.example.test"], days=10, not_before=datetime.now(UTC) - timedelta(days=40))
    later = self_signed(["later.example.test"], days=10, not_before=datetime.now(UTC) + timedelta(days=2))
    locked = serialization.load_pem_private_key(_key.encode(), None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    for body, field, why in [
        ({"name": "later", "certificate": later.cert_pem, "key": later.key_pem}, "certificate", "not valid before"),
        ({"name": "web", "certificate": chain, "key": locked.decode()}, "key", "protected by a passphrase"),
        ({"name": "web", "certificate": chain + _key, "key": _key}, "certificate", "holds a private key"),
        ({"name": "web", "certificate": chain, "key": key}, "key", "the private key does not match"),
        ({"name": "old", "certificate": old.cert_pem, "key": old.key_pem}, "certificate", "expired on"),
        ({"name": "Bad Name", "certificate": chain, "key": key}, "name", "lower-case letters"),
        ({"name": "web", "certificate": chain, "key": key, "password": "x"}, "password", "Unknown field"),
    ]:
        refused = api.post(URL, body, format="json")
        assert refused.status_code == 400 and why in str(refused.json()[field]), refused.json()
        assert key.splitlines()[1] not in refused.content.decode()  # no line of the key, however it is escaped
    assert not Certificate.objects.exists()
    assert api.post(URL, {"name": "web", "certificate": chain, "key": _key}, format="json").status_code == 201
    taken = api.post(URL, {"name": "web", "certificate": chain, "key": _key}, format="json")
    assert taken.status_code == 400 and "already a certificate of this name" in taken.json()["name"][0]


def test_a_sub_account_needs_its_policy_and_another_tenant_sees_nothing(
    owner: User, member: User, outsider: User
) -> None:
    chain, key = good()
    denied = client_for(member).post(URL, {"name": "web", "certificate": chain, "key": key}, format="json")
    assert denied.status_code == 403 and not Certificate.objects.exists()
    assert OperationLog.objects.filter(action="cs:UploadCertificate", actor=member, outcome="denied").exists()
    made = client_for(owner).post(URL, {"name": "web", "certificate": chain, "key": key}, format="json").json()
    assert client_for(member).get(URL).json()["results"] == []  # no policy: not even listed
    ram.attach_policy(owner, ram.find_policy(owner, "AliyunCSReadOnlyAccess"), user=member)
    reader = client_for(member)
    assert [c["name"] for c in reader.get(URL).json()["results"]] == ["web"]
    assert reader.delete(f"{URL}/{made['id']}").status_code == 403
    assert OperationLog.objects.filter(action="cs:DeleteCertificate", actor=member, outcome="denied").exists()
    theirs = client_for(outsider)
    assert theirs.get(URL).json()["results"] == []
    assert theirs.get(f"{URL}/{made['id']}").status_code == 404
    assert theirs.delete(f"{URL}/{made['id']}").status_code == 404
    assert Certificate.objects.count() == 1


def routed(cluster: Cluster, domain: str, https: bool = True) -> Route:
    app = Application.objects.create(tenant=cluster.tenant, cluster=cluster, name="shop")
    service = Service.objects.create(application=app, name="web", image="local/busybox:1")
    return Route.objects.create(
        cluster=cluster, application=app, service=service, domain=domain, path="/", port=80, https=https
    )


def upload(owner: User, names: tuple[str, ...], name: str = "web") -> Certificate:
    chain, key = good(names)
    made = client_for(owner).post(URL, {"name": name, "certificate": chain, "key": key}, format="json")
    assert made.status_code == 201, made.content
    return Certificate.objects.get(pk=made.json()["id"])


def test_the_routers_serve_the_tenants_certificates_on_443_by_sni(owner: User, member: User, overlay: Cluster) -> None:
    route = routed(overlay, "secure.example.test")
    api = client_for(owner)
    api.patch(f"/api/v1/clusters/{overlay.pk}/routing", {"enabled": True, "https_port": True}, format="json")
    main = sync.desired(overlay, [])[0]
    assert main.ports[443] == 443 and "ssl crt" not in main.config and not main.files  # no certificate: no TLS
    listed = api.get(f"/api/v1/clusters/{overlay.pk}/routes").json()["results"][0]
    assert listed["certificate"].startswith("none: no valid certificate of this account names secure.example.test")
    assert listed["address"] == "http://secure.example.test:9080"

    row = upload(owner, ("secure.example.test",))
    main = sync.desired(overlay, [])[0]
    version, files = tls.files_for([row])
    assert main.ports[443] == 443 and main.files == files
    assert f"bind 0.0.0.0:443 ssl crt {haproxy.CERTS_DIR}/{version}/ alpn http/1.1" in main.config
    [content] = files.values()
    assert b"BEGIN CERTIFICATE" in content and b"PRIVATE KEY" in content
    assert "redirect location" not in main.config
    listed = api.get(f"/api/v1/clusters/{overlay.pk}/routes").json()["results"][0]
    assert (listed["certificate"], listed["address"]) == ("web", "https://secure.example.test")
    grant_role(member, "read-only", overlay)  # sees the cluster's routes, not the account's certificates
    seen = client_for(member).get(f"/api/v1/clusters/{overlay.pk}/routes").json()["results"][0]
    assert seen["certificate"] == "a certificate of this account"

    changed = api.patch(f"/api/v1/clusters/{overlay.pk}/routes/{route.pk}", {"redirect_https": True}, format="json")
    assert changed.status_code == 200 and changed.json()["redirect_https"] is True
    backend = haproxy.backend_name("secure.example.test", "/")
    redirect = (
        "http-request redirect location https://%[var(txn.host)]%[pathq] code 302 "
        f"if !{{ ssl_fc }} {{ var(txn.route) -m str {backend} }}"
    )
    redirected = sync.desired(overlay, [])[0]
    assert redirect in redirected.config
    assert addresses_of(Application.objects.get(pk=route.application_id)) == [
        {"address": "https://secure.example.test", "service": "web", "serving": True}
    ]
    assert OperationLog.objects.get(action="cs:ModifyRoute").parameters["redirect_https"] is True
    # A second certificate is a new directory: a structural change the router takes by a seamless reload.
    upload(owner, ("other.example.test",), name="other")
    again = sync.desired(overlay, [])[0]
    assert haproxy.structure(again.config) != haproxy.structure(redirected.config) and len(again.files) == 2
    # The same certificate with another chain is another directory too (the files change, so must their name).
    same = Certificate.objects.get(pk=row.pk)
    version, _files = tls.files_for([same])
    same.chain_sealed = pki.seal(
        pki.unseal(same.chain_sealed, secret=settings.BERTH_ENCRYPTION_KEY) + pem_of(a_ca()[0]),
        secret=settings.BERTH_ENCRYPTION_KEY,
    )
    assert tls.files_for([same])[0] != version
    # Its certificate deleted, the route is not redirected to a name the routers cannot prove (nor shown as https).
    assert client_for(owner).delete(f"{URL}/{row.pk}").status_code == 204
    assert "redirect location" not in sync.desired(overlay, [])[0].config
    assert (
        addresses_of(Application.objects.get(pk=route.application_id))[0]["address"]
        == "http://secure.example.test:9080"
    )
    page = Client()
    page.force_login(owner)
    shown = page.get(f"/clusters/{overlay.pk}/routing/").content.decode()
    assert "The redirect waits for a certificate that names this domain." in shown


def test_an_http_route_is_not_served_over_tls() -> None:
    text = haproxy.build(
        haproxy.Router(
            bind="0.0.0.0",  # noqa: S104
            port=9080,
            https_port=443,
            routes=(
                haproxy.Route("plain.example.test", "/", "b1"),
                haproxy.Route("secure.example.test", "/api", "b2", https=True),
            ),
            certificates="v1",
        )
    )
    assert "use_backend b1 if !{ ssl_fc } { var(txn.route) -m str b1 }" in text
    assert "use_backend b2 if { var(txn.route) -m str b2 }" in text


def test_a_longer_http_path_of_a_redirected_domain_is_not_redirected() -> None:
    """A redirect is keyed on the request's chosen route (the longest path), never on the host alone: another
    application's http route /api under an https / that redirects keeps answering http."""
    text = haproxy.build(
        haproxy.Router(
            bind="0.0.0.0",  # noqa: S104
            port=9080,
            https_port=443,
            routes=(
                haproxy.Route("shop.example.test", "/", "root", https=True, redirect=True),
                haproxy.Route("shop.example.test", "/api", "api"),
            ),
            certificates="v1",
        )
    )
    lines = text.splitlines()
    chosen = [line for line in lines if "set-var(txn.route)" in line]
    assert chosen[0].startswith("    http-request set-var(txn.route) str(api) if !{ var(txn.route) -m found }")
    assert chosen[1] == (
        "    http-request set-var(txn.route) str(root) if !{ var(txn.route) -m found } "
        "{ var(txn.host) -m str shop.example.test }"
    )
    redirects = [line for line in lines if "redirect location" in line]
    assert redirects == [
        "    http-request redirect location https://%[var(txn.host)]%[pathq] code 302 "
        "if !{ ssl_fc } { var(txn.route) -m str root }"
    ]
    assert "use_backend api if !{ ssl_fc } { var(txn.route) -m str api }" in text


def test_another_tenants_certificate_for_the_same_domain_is_never_served(
    owner: User, outsider: User, overlay: Cluster
) -> None:
    routed(overlay, "secure.example.test")
    client_for(owner).patch(f"/api/v1/clusters/{overlay.pk}/routing", {"enabled": True, "https_port": True})
    theirs = upload(outsider, ("secure.example.test",), name="theirs")
    assert tls.served_by(overlay) == [] and sync.desired(overlay, [])[0].files == {}
    ours = upload(owner, ("secure.example.test",), name="ours")
    assert tls.served_by(overlay) == [ours] and theirs.pk not in {
        int(n.split("-")[-1][:-4]) for n in sync.desired(overlay, [])[0].files
    }
    # Expired: no TLS and no redirect until another certificate comes (the periodic sync rebuilds within 30 s).
    Route.objects.update(redirect_https=True)
    Certificate.objects.filter(pk=ours.pk).update(not_after=timezone.now() - timedelta(seconds=1))
    expired = sync.desired(overlay, [])[0]
    assert "ssl crt" not in expired.config and "redirect location" not in expired.config and not expired.files


def test_an_expired_certificate_is_not_served_and_is_shown_with_a_warning(owner: User, overlay: Cluster) -> None:
    row = upload(owner, ("secure.example.test",))
    Certificate.objects.filter(pk=row.pk).update(not_after=timezone.now() - timedelta(minutes=1))
    assert tls.served_by(overlay) == []
    Certificate.objects.filter(pk=row.pk).update(not_after=timezone.now() + timedelta(days=10))
    assert client_for(owner).get(f"{URL}/{row.pk}").json()["expiring"] is True
    web = Client()
    web.force_login(owner)
    page = web.get("/certificates/").content.decode()
    assert 'data-testid="expiry-warning"' in page and "expires soon" in page and "END PRIVATE KEY" not in page


def test_a_redirect_needs_an_https_route(owner: User, member: User, overlay: Cluster) -> None:
    route = routed(overlay, "plain.example.test", https=False)
    api = client_for(owner)
    url = f"/api/v1/clusters/{overlay.pk}/routes/{route.pk}"
    refused = api.patch(url, {"redirect_https": True}, format="json")
    assert refused.status_code == 400
    assert "claimed for http only: claim it as https://plain.example.test" in refused.json()["redirect_https"][0]
    assert api.patch(url, {}, format="json").status_code == 400
    grant_role(member, "read-only", overlay)
    assert client_for(member).patch(url, {"redirect_https": False}, format="json").status_code == 403
    assert Route.objects.get(pk=route.pk).redirect_https is False


def test_an_https_listener_ends_tls_with_the_tenants_certificates(owner: User, overlay: Cluster) -> None:
    app = Application.objects.create(tenant=overlay.tenant, cluster=overlay, name="shop")
    service = Service.objects.create(application=app, name="web", image="local/busybox:1")
    Listener.objects.create(
        cluster=overlay, application=app, service=service, name="front", protocol="https", front_port=8443, port=80
    )
    assert len(sync.desired(overlay, [])) == 1  # no certificate: the https listener is not served at all
    listed = client_for(owner).get(f"/api/v1/clusters/{overlay.pk}/listeners").json()["results"][0]
    assert listed["certificate"].startswith("none: the account has no valid certificate (not served until it has)")
    upload(owner, ("secure.example.test",))
    served = sync.desired(overlay, [])[1]
    assert served.name == routers.listener_name_of(overlay.pk, 8443)
    assert "bind 0.0.0.0:8443 ssl crt /etc/berth/certs/" in served.config and served.files
    assert "http-request set-header X-Forwarded-Proto https if { ssl_fc }" in served.config
    assert sync.desired(overlay, [])[0].files == {}  # the routes' router has no https port: no keys there
    assert (
        client_for(owner).get(f"/api/v1/clusters/{overlay.pk}/listeners").json()["results"][0]["certificate"] == "web"
    )


def test_the_certificates_page_uploads_and_never_shows_the_key_back(owner: User) -> None:
    web = Client()
    web.force_login(owner)
    chain, _key = good()
    _other, wrong = good()
    page = web.post("/certificates/", {"name": "web", "certificate": chain, "key": wrong}).content.decode()
    assert "the private key does not match" in page and wrong.split("\n")[1] not in page
    assert not Certificate.objects.exists()
    done = web.post("/certificates/", {"name": "web", "certificate": chain, "key": _key}, follow=True)
    shown = done.content.decode()
    assert "Certificate web saved: secure.example.test." in shown and 'data-testid="certificate-web"' in shown
    row = Certificate.objects.get()
    assert web.post(f"/certificates/{row.pk}/delete/").status_code == 302 and not Certificate.objects.exists()
