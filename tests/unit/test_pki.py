"""The cluster CA: issued certificates verify, work in a real TLS handshake, bad material is refused with a reason."""

from __future__ import annotations

import io
import re
import socket
import ssl
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from clusters.pki import (
    CertificateProblem,
    KeyPair,
    bundle_zip,
    check_bundle,
    describe,
    fingerprint,
    issue_client,
    issue_server,
    new_ca,
    seal,
    unseal,
)

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return new_ca("Cluster One CA")


@pytest.fixture(scope="module")
def other_ca() -> KeyPair:
    return new_ca("Cluster Two CA")


@pytest.fixture(scope="module")
def server(ca: KeyPair) -> KeyPair:
    return issue_server(ca, common_name="node-1", ips=["127.0.0.1", "10.0.0.5", "fd00::5"], dns=["localhost", "node-1"])


@pytest.fixture(scope="module")
def client(ca: KeyPair) -> KeyPair:
    return issue_client(ca, common_name="berth")


# --- issuing ----------------------------------------------------------------------------------


def test_ca_is_a_ca_with_pathlen_zero(ca: KeyPair) -> None:
    cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert usage.key_cert_sign and usage.crl_sign
    assert cert.subject == cert.issuer
    assert ca.key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted


def test_chain_verifies_for_the_right_purposes(ca: KeyPair, server: KeyPair, client: KeyPair) -> None:
    check_bundle(ca_pem=ca.cert_pem, cert_pem=server.cert_pem, key_pem=server.key_pem, purpose="server")
    check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, purpose="client")
    check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem)  # "client" by default


def test_server_sans_hold_every_ip_and_name(server: KeyPair) -> None:
    cert = x509.load_pem_x509_certificate(server.cert_pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.0.0.5", "fd00::5"}
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "node-1"}


def test_serials_are_random_and_validity_allows_clock_skew(ca: KeyPair) -> None:
    first, second = (x509.load_pem_x509_certificate(issue_client(ca, common_name="c").cert_pem.encode()) for _ in "ab")
    assert first.serial_number != second.serial_number
    assert datetime.now(UTC) - first.not_valid_before_utc >= timedelta(minutes=4)


def test_bad_ip_is_refused(ca: KeyPair) -> None:
    with pytest.raises(CertificateProblem, match="not an IP address"):
        issue_server(ca, common_name="node-1", ips=["10.0.0.300"])


# --- a real TLS handshake ---------------------------------------------------------------------


@dataclass
class Outcome:
    received: bytes = b""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _files(tmp_path: Path, name: str, pair: KeyPair) -> tuple[str, str]:
    cert, key = tmp_path / f"{name}-cert.pem", tmp_path / f"{name}-key.pem"
    cert.write_text(pair.cert_pem)
    key.write_text(pair.key_pem)
    return str(cert), str(key)


def _serve_once(tmp_path: Path, server: KeyPair, trusted_ca: KeyPair) -> tuple[int, Outcome, threading.Thread]:
    """An mTLS server on a random port answering one connection; the outcome says what happened."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_files(tmp_path, "server", server))
    context.load_verify_locations(cadata=trusted_ca.cert_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    outcome = Outcome()

    def run() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(TIMEOUT)
            with context.wrap_socket(conn, server_side=True) as tls:
                outcome.received = tls.recv(64)
                tls.sendall(b"pong:" + outcome.received)
        except Exception as exc:  # reported to the test
            outcome.error = exc
        finally:
            listener.close()
            outcome.done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], outcome, thread


def _talk(tmp_path: Path, port: int, client: KeyPair, trusted_ca: KeyPair) -> bytes:
    """Connect with a client certificate, send "ping" and return the reply (raises if TLS refuses)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=trusted_ca.cert_pem)
    context.load_cert_chain(*_files(tmp_path, "client", client))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"ping")
            return tls.recv(64)


def _finish(thread: threading.Thread, outcome: Outcome) -> Outcome:
    thread.join(TIMEOUT)
    assert not thread.is_alive() and outcome.done.is_set()
    return outcome


def test_handshake_with_issued_certificates(tmp_path: Path, ca: KeyPair, server: KeyPair, client: KeyPair) -> None:
    port, outcome, thread = _serve_once(tmp_path, server, ca)
    assert _talk(tmp_path, port, client, ca) == b"pong:ping"
    assert _finish(thread, outcome).error is None
    assert outcome.received == b"ping"


def test_handshake_refuses_client_of_another_ca(
    tmp_path: Path, ca: KeyPair, other_ca: KeyPair, server: KeyPair
) -> None:
    stranger = issue_client(other_ca, common_name="stranger")
    port, outcome, thread = _serve_once(tmp_path, server, ca)
    try:
        reply: bytes | BaseException = _talk(tmp_path, port, stranger, ca)
    except (ssl.SSLError, ConnectionError) as exc:  # TLS 1.3 may report the refusal on the first read
        reply = exc
    assert reply != b"pong:ping"
    assert isinstance(_finish(thread, outcome).error, ssl.SSLError)
    assert outcome.received == b""


def test_client_trusting_another_ca_refuses_the_server(
    tmp_path: Path, ca: KeyPair, other_ca: KeyPair, server: KeyPair, client: KeyPair
) -> None:
    port, outcome, thread = _serve_once(tmp_path, server, ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        _talk(tmp_path, port, client, other_ca)
    assert isinstance(_finish(thread, outcome).error, (ssl.SSLError, ConnectionError, OSError))


# --- refusing bad material --------------------------------------------------------------------


def test_refuses_certificate_of_another_ca(ca: KeyPair, other_ca: KeyPair) -> None:
    foreign = issue_client(other_ca, common_name="berth")
    with pytest.raises(CertificateProblem, match="not signed by this CA"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=foreign.cert_pem, key_pem=foreign.key_pem)


def test_refuses_same_named_ca_with_another_key(client: KeyPair) -> None:
    impostor = new_ca("Cluster One CA")  # same subject, different key: only the signature tells them apart
    with pytest.raises(CertificateProblem, match="not signed by this CA"):
        check_bundle(ca_pem=impostor.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem)


def test_refuses_key_of_another_certificate(ca: KeyPair, client: KeyPair, server: KeyPair) -> None:
    with pytest.raises(CertificateProblem, match="key does not match"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=server.key_pem)


def test_refuses_expired_certificate(ca: KeyPair) -> None:
    short = issue_client(ca, common_name="brief", days=1)
    later = datetime.now(UTC) + timedelta(days=3)
    with pytest.raises(CertificateProblem, match=r"expired on \d{4}-\d\d-\d\d"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=short.cert_pem, key_pem=short.key_pem, now=later)


def test_refuses_certificate_not_yet_valid(ca: KeyPair, client: KeyPair) -> None:
    earlier = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(CertificateProblem, match="not valid before"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, now=earlier)


def test_refuses_client_certificate_as_server_and_back(ca: KeyPair, client: KeyPair, server: KeyPair) -> None:
    with pytest.raises(CertificateProblem, match="not meant for server use"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, purpose="server")
    with pytest.raises(CertificateProblem, match="not meant for client use"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=server.cert_pem, key_pem=server.key_pem, purpose="client")


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ("ca_pem", "the CA certificate is not a valid PEM certificate"),
        ("cert_pem", "the certificate is not a valid PEM certificate"),
        ("key_pem", "the private key is not a valid PEM private key"),
    ],
)
def test_refuses_garbage_and_names_it(ca: KeyPair, client: KeyPair, broken: str, says: str) -> None:
    material = {"ca_pem": ca.cert_pem, "cert_pem": client.cert_pem, "key_pem": client.key_pem}
    material[broken] = "-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateProblem, match=re.escape(says)):
        check_bundle(**material)
    material[broken] = ""
    with pytest.raises(CertificateProblem, match=re.escape(says)):
        check_bundle(**material)


def test_unknown_purpose_is_a_programming_error(ca: KeyPair, client: KeyPair) -> None:
    with pytest.raises(ValueError, match="purpose"):
        check_bundle(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, purpose="email")


# --- secrets at rest --------------------------------------------------------------------------


def test_seal_round_trip_hides_the_plaintext(client: KeyPair) -> None:
    token = seal(client.key_pem, secret="s3cret")
    assert isinstance(token, str)
    assert "PRIVATE KEY" not in token and client.key_pem not in token
    assert unseal(token, secret="s3cret") == client.key_pem
    assert seal("same", secret="s3cret") != seal("same", secret="s3cret")  # fresh IV each time


def test_unseal_with_another_secret_fails() -> None:
    token = seal("hello", secret="one")
    with pytest.raises(CertificateProblem, match="cannot decrypt: the secret key changed or the data was altered"):
        unseal(token, secret="two")


@pytest.mark.parametrize("position", [10, 40, -5])
def test_unseal_of_altered_token_fails(position: int) -> None:
    token = seal("hello", secret="one")
    index = position % len(token)
    altered = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
    with pytest.raises(CertificateProblem, match="cannot decrypt"):
        unseal(altered, secret="one")
    with pytest.raises(CertificateProblem, match="cannot decrypt"):
        unseal("not a token", secret="one")


# --- the client bundle ------------------------------------------------------------------------


def test_bundle_zip_holds_the_four_files(ca: KeyPair, client: KeyPair) -> None:
    data = bundle_zip(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, endpoint_hint="10.0.0.5")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["ca.pem", "cert.pem", "key.pem", "README.txt"]
        assert archive.read("ca.pem").decode() == ca.cert_pem
        assert archive.read("cert.pem").decode() == client.cert_pem
        assert archive.read("key.pem").decode() == client.key_pem
        readme = archive.read("README.txt").decode()
    command = "docker --tlsverify --tlscacert=ca.pem --tlscert=cert.pem --tlskey=key.pem -H=tcp://10.0.0.5:2376 info"
    assert command in readme
    assert "DOCKER_CERT_PATH" in readme and "DOCKER_TLS_VERIFY=1" in readme
    again = bundle_zip(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem, endpoint_hint="10.0.0.5")
    assert again == data  # deterministic


def test_bundle_readme_without_hint_and_with_url() -> None:
    plain = zipfile.ZipFile(io.BytesIO(bundle_zip(ca_pem="c", cert_pem="x", key_pem="k"))).read("README.txt").decode()
    assert "-H=tcp://HOST:2376 info" in plain
    hinted = bundle_zip(ca_pem="c", cert_pem="x", key_pem="k", endpoint_hint="tcp://node-1.example:2376")
    assert "-H=tcp://node-1.example:2376 info" in zipfile.ZipFile(io.BytesIO(hinted)).read("README.txt").decode()


# --- describing -------------------------------------------------------------------------------


def test_fingerprint_format(server: KeyPair) -> None:
    value = fingerprint(server.cert_pem)
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){31}", value)
    assert value != fingerprint(issue_server(new_ca("x"), common_name="node-1").cert_pem)


def test_describe_fields(ca: KeyPair, server: KeyPair) -> None:
    info = describe(server.cert_pem)
    assert info["subject"] == "CN=node-1,O=Berth"
    assert info["issuer"] == "CN=Cluster One CA,O=Berth"
    assert set(info["sans"]) >= {"127.0.0.1", "10.0.0.5", "fd00::5", "localhost", "node-1"}
    assert info["is_ca"] is False
    assert info["fingerprint"] == fingerprint(server.cert_pem)
    before, after = datetime.fromisoformat(info["not_before"]), datetime.fromisoformat(info["not_after"])
    assert before.tzinfo is not None and timedelta(days=824) < after - before < timedelta(days=826)
    authority = describe(ca.cert_pem)
    assert authority["is_ca"] is True and authority["sans"] == []
    assert authority["subject"] == authority["issuer"]


def test_describe_refuses_garbage() -> None:
    with pytest.raises(CertificateProblem, match="not a valid PEM certificate"):
        describe("hello")
