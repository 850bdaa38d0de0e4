"""Web certificates made in tests (the routing service's HTTPS): a leaf for some DNS names, self-signed or signed by
an issuer, valid from a given moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clusters.pki import KeyPair

Signer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def web_certificate(
    names: Sequence[str], *, days: int = 30, not_before: datetime | None = None, issuer: Signer | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf for ``names`` (the first is its common name; none: no name at all) and its key, signed by ``issuer``
    or by itself, valid ``days`` from ``not_before`` (a day ago)."""
    key = ec.generate_private_key(ec.SECP256R1())
    first = (
        x509.NameAttribute(NameOID.COMMON_NAME, names[0])
        if names
        else x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nobody")
    )
    subject = x509.Name([first])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def self_signed(names: Sequence[str], *, days: int = 30, not_before: datetime | None = None) -> KeyPair:
    """A self-signed web certificate for ``names``, as PEM (what a user uploads)."""
    cert, key = web_certificate(names, days=days, not_before=not_before)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)
