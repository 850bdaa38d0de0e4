"""A small certificate authority per cluster, and encryption of secrets at rest.

Berth issues each node's Docker-engine server certificate, the client certificate it uses itself to reach the
engines, and client bundles users download. Everything here is pure: PEM strings in, PEM strings out, no database.
Private keys come out unencrypted (PKCS8 PEM); callers store them with :func:`seal`. Problems with material a user
uploads are raised as :class:`CertificateProblem` whose message says what is wrong in plain words.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "Berth"
CLOCK_SKEW = timedelta(minutes=5)
_PURPOSES = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM; the key is PKCS8 and unencrypted."""

    cert_pem: str
    key_pem: str


class CertificateProblem(ValueError):
    """Material that does not fit together or is unusable; str() says what, in plain words."""


def _name(common_name: str) -> x509.Name:
    """The subject/issuer name Berth uses: the common name plus O=Berth."""
    organization = x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)
    return x509.Name([organization, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    """The certificate and its key as PEM, the key unencrypted PKCS8."""
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")
    return KeyPair(cert.public_bytes(Encoding.PEM).decode("ascii"), key_pem)


def _load_cert(pem: str, what: str) -> x509.Certificate:
    """Parse one PEM certificate, naming ``what`` in the error."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise CertificateProblem(f"{what} is not a valid PEM certificate") from exc


def _load_key(pem: str, what: str = "the private key") -> Any:
    """Parse one unencrypted PEM private key, naming ``what`` in the error."""
    try:
        return serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError as exc:
        raise CertificateProblem(f"{what} is protected by a passphrase; provide it unencrypted") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateProblem(f"{what} is not a valid PEM private key") from exc


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    """The value of the certificate's extension of class ``kind``, or None when it has none."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(**flags: bool) -> x509.KeyUsage:
    """A keyUsage extension with only the given flags set."""
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    names += ("key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, days: int, hours: int | None = None
) -> x509.CertificateBuilder:
    """A certificate builder with a random serial and a validity window starting CLOCK_SKEW ago, lasting
    ``hours`` when given, else ``days``."""
    if hours is not None and hours < 1:
        raise ValueError("hours must be at least 1")
    if hours is None and days < 1:
        raise ValueError("days must be at least 1")
    lifetime = timedelta(hours=hours) if hours is not None else timedelta(days=days)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + lifetime)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def new_ca(common_name: str, *, days: int = 3650) -> KeyPair:
    """A self-signed CA (EC P-256 key; basicConstraints CA:true, pathlen 0; keyCertSign, cRLSign)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    usage = _key_usage(key_cert_sign=True, crl_sign=True)
    cert = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return _pair(cert, key)


def _issue(
    ca: KeyPair,
    common_name: str,
    days: int,
    eku: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    hours: int | None = None,
) -> KeyPair:
    """A leaf certificate with a fresh EC P-256 key, the given EKU and SANs, signed by ``ca``."""
    ca_cert = _load_cert(ca.cert_pem, "the CA certificate")
    ca_key = _load_key(ca.key_pem, "the CA private key")
    key = ec.generate_private_key(ec.SECP256R1())
    usage = _key_usage(digital_signature=True)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    builder = (
        _builder(_name(common_name), ca_cert.subject, key.public_key(), days, hours)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(aki, critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return _pair(cert, key)


def issue_server(
    ca: KeyPair, *, common_name: str, ips: Sequence[str] = (), dns: Sequence[str] = (), days: int = 825
) -> KeyPair:
    """A server certificate for a Docker engine: SANs for every IP and DNS name, serverAuth EKU, signed by ca."""
    sans: list[x509.GeneralName] = []
    for ip in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip.strip())))
        except ValueError as exc:
            raise CertificateProblem(f"{ip!r} is not an IP address") from exc
    sans.extend(x509.DNSName(name.strip()) for name in dns)
    return _issue(ca, common_name, days, ExtendedKeyUsageOID.SERVER_AUTH, sans)


def issue_client(ca: KeyPair, *, common_name: str, days: int = 825, hours: int | None = None) -> KeyPair:
    """A client certificate (clientAuth EKU) signed by ca, valid ``hours`` when given, else ``days``."""
    return _issue(ca, common_name, days, ExtendedKeyUsageOID.CLIENT_AUTH, [], hours)


def fingerprint(cert_pem: str) -> str:
    """The certificate's SHA-256 fingerprint, lowercase hex pairs joined by colons."""
    return _load_cert(cert_pem, "the certificate").fingerprint(hashes.SHA256()).hex(":")


def describe(cert_pem: str) -> dict[str, Any]:
    """What a person wants to see about a certificate: names, validity, SANs, whether it is a CA, fingerprint."""
    cert = _load_cert(cert_pem, "the certificate")
    sans = _extension(cert, x509.SubjectAlternativeName)
    constraints = _extension(cert, x509.BasicConstraints)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sans": [str(name.value) for name in sans] if sans is not None else [],
        "is_ca": bool(constraints is not None and constraints.ca),
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(":"),
        "serial": format(cert.serial_number, "x"),
    }


def _check_validity(cert: x509.Certificate, now: datetime, what: str) -> None:
    """Raise unless ``now`` is within the certificate's validity period."""
    if now < cert.not_valid_before_utc:
        raise CertificateProblem(f"{what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after_utc:
        raise CertificateProblem(f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def check_bundle(
    *, ca_pem: str, cert_pem: str, key_pem: str, purpose: str = "client", now: datetime | None = None
) -> None:
    """Raise CertificateProblem unless the CA, certificate and key fit together and are usable for ``purpose``.

    Checks, in order: each PEM parses; the key matches the certificate; the certificate is signed by the CA (issuer
    equals the CA subject and the signature verifies); the certificate, then the CA, is within its validity period;
    and, when the certificate has an extended key usage, it allows ``purpose`` ("client" or "server").
    """
    if purpose not in _PURPOSES:
        raise ValueError(f"purpose must be 'client' or 'server', not {purpose!r}")
    now = datetime.now(UTC) if now is None else (now if now.tzinfo else now.replace(tzinfo=UTC))
    ca = _load_cert(ca_pem, "the CA certificate")
    cert = _load_cert(cert_pem, "the certificate")
    key = _load_key(key_pem)
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise CertificateProblem("the private key does not match the certificate")
    if cert.issuer != ca.subject:
        raise CertificateProblem(
            f"the certificate is not signed by this CA (issued by {cert.issuer.rfc4514_string()}, "
            f"the CA is {ca.subject.rfc4514_string()})"
        )
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CertificateProblem("the certificate is not signed by this CA (its signature does not verify)") from exc
    _check_validity(cert, now, "the certificate")
    _check_validity(ca, now, "the CA certificate")
    usages = _extension(cert, x509.ExtendedKeyUsage)
    if usages is not None and not {_PURPOSES[purpose], ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(usages):
        raise CertificateProblem(f"the certificate is not meant for {purpose} use (see its extended key usage)")


MAX_SERVED_PEM = 64 * 1024


@dataclass(frozen=True)
class ServedCertificate:
    """A web server's certificate chain and key that fit together, and what a person sees of them (never the key)."""

    chain_pem: str  # the leaf first, then its intermediates, each re-encoded
    key_pem: str  # PKCS8, unencrypted
    subject: str
    issuer: str
    names: tuple[str, ...]  # the DNS names it is for (its SANs; the common name when it has none)
    not_before: datetime
    not_after: datetime
    fingerprint: str


def _certificates_of(pem: str) -> list[x509.Certificate]:
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        raise CertificateProblem("the certificate is not PEM: paste it with its -----BEGIN CERTIFICATE----- line")
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise CertificateProblem("the certificate chain is not valid PEM (a certificate in it does not parse)") from exc


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    sans = _extension(cert, x509.SubjectAlternativeName)
    if sans is not None:
        return tuple(dict.fromkeys(name.lower() for name in sans.get_values_for_type(x509.DNSName)))
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (str(common[0].value).lower(),) if common else ()


def check_served(chain_pem: str, key_pem: str, *, now: datetime | None = None) -> ServedCertificate:
    """A web certificate chain (leaf first) and its key, checked: both parse, the key is the leaf's, each
    certificate of the chain is signed by the next, the leaf is valid now and names at least one DNS name. Raises
    CertificateProblem, saying what is wrong, when they are not."""
    now = datetime.now(UTC) if now is None else now
    for text, what in ((chain_pem, "the certificate chain"), (key_pem, "the private key")):
        if isinstance(text, str) and len(text) > MAX_SERVED_PEM:
            raise CertificateProblem(f"{what} is longer than {MAX_SERVED_PEM // 1024} KiB")
    if isinstance(chain_pem, str) and "PRIVATE KEY-----" in chain_pem:
        raise CertificateProblem(
            "the certificate chain holds a private key: paste only certificates there, and the key in its own field"
        )
    chain = _certificates_of(chain_pem)
    if not isinstance(key_pem, str) or "PRIVATE KEY-----" not in key_pem:
        raise CertificateProblem("the private key is not PEM: paste it with its -----BEGIN ... PRIVATE KEY----- line")
    key = _load_key(key_pem)
    leaf = chain[0]
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise CertificateProblem("the private key does not match the certificate (the first one of the chain)")
    for child, parent in zip(chain, chain[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise CertificateProblem(
                f"the chain is out of order: {child.subject.rfc4514_string()} is not signed by the certificate after "
                f"it ({parent.subject.rfc4514_string()}); put the server's certificate first, then its issuers"
            ) from exc
    _check_validity(leaf, now, "the certificate")
    names = _dns_names(leaf)
    if not names:
        raise CertificateProblem("the certificate names no DNS name (no subjectAltName DNS entry, no common name)")
    return ServedCertificate(
        chain_pem="".join(cert.public_bytes(Encoding.PEM).decode("ascii") for cert in chain),
        key_pem=key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii"),
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        names=names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(":"),
    )


def _fernet(secret: str) -> Fernet:
    """A Fernet whose key is derived from ``secret`` with HKDF-SHA256."""
    if not secret:
        raise ValueError("the at-rest secret must not be empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"berth", info=b"berth-at-rest")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8"))))


def seal(plaintext: str, *, secret: str) -> str:
    """Encrypt for storage at rest with a key derived from ``secret``; returns the Fernet token as str."""
    return _fernet(secret).encrypt(plaintext.encode("utf-8")).decode("ascii")


def unseal(token: str, *, secret: str) -> str:
    """Decrypt what :func:`seal` produced; raise CertificateProblem if the secret changed or the data was altered."""
    try:
        return _fernet(secret).decrypt(token.encode("utf-8")).decode("utf-8")
    except (InvalidToken, UnicodeDecodeError) as exc:
        raise CertificateProblem("cannot decrypt: the secret key changed or the data was altered") from exc


def _endpoint(hint: str) -> str:
    """A docker -H value from a hint that is empty, a host, an IPv6 address, host:port or a full URL."""
    if "://" in hint:
        return hint
    if hint.count(":") > 1 and not hint.startswith("["):  # a bare IPv6 address
        hint = f"[{hint}]"
    has_port = ":" in hint.rpartition("]")[2]
    return f"tcp://{hint or 'HOST'}" + ("" if has_port else ":2376")


def _readme(endpoint_hint: str) -> str:
    """The README.txt of a client bundle, with ``endpoint_hint`` (host, host:port or tcp:// URL) in the commands."""
    hint = endpoint_hint.strip()
    endpoint = _endpoint(hint)
    lines = [
        "Berth client certificate bundle",
        "",
        "ca.pem    the cluster's certificate authority (verifies the Docker engines)",
        "cert.pem  your client certificate",
        "key.pem   your private key: keep it secret",
        "",
        f"Engine endpoint: {hint}" if hint else "Replace HOST with the address of a node in the cluster.",
        "",
        "Run from this directory:",
        f"  docker --tlsverify --tlscacert=ca.pem --tlscert=cert.pem --tlskey=key.pem -H={endpoint} info",
        "",
        "Or set the environment once:",
        "  export DOCKER_CERT_PATH=/path/to/this/directory",
        "  export DOCKER_TLS_VERIFY=1",
        f"  export DOCKER_HOST={endpoint}",
        "  docker info",
    ]
    return "\n".join(lines) + "\n"


def bundle_zip(*, ca_pem: str, cert_pem: str, key_pem: str, endpoint_hint: str = "") -> bytes:
    """A zip with ca.pem, cert.pem, key.pem and README.txt, in that order, with fixed timestamps."""
    files = [("ca.pem", ca_pem, 0o644), ("cert.pem", cert_pem, 0o644), ("key.pem", key_pem, 0o600)]
    files.append(("README.txt", _readme(endpoint_hint), 0o644))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text, mode in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, text)
    return buffer.getvalue()
