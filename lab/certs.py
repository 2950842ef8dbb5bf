"""Certificates for ``auth = "rsa"`` and ``auth = "ecdsa"``: a CA and each peer's
certificate, made with Python's ``cryptography``.

Keys are the slow part (an RSA key costs tens to hundreds of milliseconds), so the CA
and one key per side are made once per session and kept in the session's private cache
directory; each run signs fresh peer certificates for the identities it uses (cheap).
The peer certificate carries the identity: a DN is its subject, an FQDN a dNSName, a user
FQDN an rfc822Name, an address an iPAddress; the peer's address is always an iPAddress too.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lab.identity import Identity

# cryptography's x509 costs 0.18 s of a UML worker's start; every PSK cell does without it,
# so each function that makes or reads a certificate imports what it uses
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

KINDS = ("rsa", "ecdsa")
RSA_BITS = 2048
#: DN attribute short names -> cryptography's NameOID names (lab.identity allows exactly these)
DN_OIDS = {"C": "COUNTRY_NAME", "ST": "STATE_OR_PROVINCE_NAME", "L": "LOCALITY_NAME",
           "O": "ORGANIZATION_NAME", "OU": "ORGANIZATIONAL_UNIT_NAME", "CN": "COMMON_NAME"}
VALID_BEFORE = datetime.timedelta(days=1)
VALID_AFTER = datetime.timedelta(days=30)
#: the password of the PKCS#12 files handed to NSS's pk12util (the file is private anyway)
P12_PASSWORD = "ipsec-lab"


@dataclass(frozen=True)
class Credentials:
    """What one peer needs: the CA's certificate, its own certificate and key (PEM)."""

    kind: str
    nickname: str  # the certificate's name in NSS (Libreswan's leftcert)
    ca_pem: str
    cert_pem: str
    key_pem: str  # PKCS#8

    @property
    def ca_fingerprint(self) -> str:
        return hashlib.sha256(self.ca_pem.encode()).hexdigest()[:16]

    def p12(self) -> bytes:
        """Key and certificate as PKCS#12 with the legacy algorithms every NSS reads."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        key = serialization.load_pem_private_key(self.key_pem.encode(), None,
                                                 unsafe_skip_rsa_key_validation=True)
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        enc = (serialization.PrivateFormat.PKCS12.encryption_builder()
               .kdf_rounds(2048)
               .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
               .hmac_hash(hashes.SHA1())
               .build(P12_PASSWORD.encode()))
        return pkcs12.serialize_key_and_certificates(
            self.nickname.encode(), key, cert, None, enc)  # type: ignore[arg-type]


def _new_key(kind: str) -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically and privately (another peer of the session may read it next)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def cached_key(cache: Path, name: str, kind: str) -> PrivateKey:
    """The session's key ``name`` of ``kind``, made on first use."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = cache / f"{name}.key"
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), None,
                                                 unsafe_skip_rsa_key_validation=True)  # our own
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return key
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _new_key(kind)
    _write_private(path, _pem(key))
    return key


def _ca(cache: Path, kind: str, issuer: str = "ipsec-lab") -> tuple[x509.Certificate, PrivateKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = cached_key(cache, "ca", kind)
    path = cache / "ca.pem"
    if path.is_file():
        return x509.load_pem_x509_certificate(path.read_bytes()), key
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} {kind} CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE).not_valid_after(now + VALID_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def subject(identity: Identity) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if identity.kind == "dn":
        return x509.Name([x509.NameAttribute(getattr(NameOID, DN_OIDS[a]), v)
                          for a, v in identity.rdns()])
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ipsec-lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, identity.value)])


def alt_names(identity: Identity, address: str) -> list[x509.GeneralName]:
    from cryptography import x509

    names: list[x509.GeneralName] = []
    if identity.kind == "fqdn":
        names.append(x509.DNSName(identity.value))
    elif identity.kind == "user_fqdn":
        names.append(x509.RFC822Name(identity.value))
    elif identity.kind == "address":
        names.append(x509.IPAddress(ipaddress.ip_address(identity.value)))
    own = x509.IPAddress(ipaddress.ip_address(address))
    return names if own in names else [*names, own]


def credentials(cache: Path, kind: str, side: str, identity: Identity, address: str,
                issuer: str = "ipsec-lab") -> Credentials:
    """The CA and ``side``'s certificate for ``identity`` (keys from the session cache);
    ``issuer`` names the CA (its O, and its CN before the kind)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if kind not in KINDS:
        raise ValueError(f"certificate kind {kind!r} (allowed: {', '.join(KINDS)})")
    store = cache / f"certs-{kind}"
    ca_cert, ca_key = _ca(store, kind, issuer)
    key = cached_key(store, side, kind)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject(identity))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE).not_valid_after(now + VALID_AFTER)
            .add_extension(x509.SubjectAlternativeName(alt_names(identity, address)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return Credentials(kind, f"ipsec-lab-{side}", ca_cert.public_bytes(pem).decode(),
                       cert.public_bytes(pem).decode(), _pem(key).decode())


def openssl_subject_hash(cert_pem: str) -> str:
    """The name OpenSSL's hashed certificate directories use (``c_rehash``): the first four
    bytes, little-endian, of SHA-1 over the subject in OpenSSL's canonical encoding (each
    string value as UTF8String, lower-cased, blanks collapsed; the RDN SETs without the
    outer SEQUENCE). racoon finds its CA through ``HASH.0`` in its certificate path."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    body = b""
    for rdn in cert.subject.rdns:
        atvs = b""
        for attr in rdn:
            value = " ".join(str(attr.value).split()).lower().encode()
            atvs += _der(0x30, _der(0x06, attr.oid.dotted_string and _oid(attr.oid.dotted_string))
                         + _der(0x0C, value))
        body += _der(0x31, atvs)
    digest = hashlib.sha1(body).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(x) for x in dotted.split("."))
    out = bytes([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return out
