"""Certificate authorities and server certificates made at run time for the TLS tests, with
Python's `cryptography`: nothing secret is committed. Every key is ECDSA P-256 unless asked
otherwise; every server certificate names `127.0.0.1` and `localhost`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: str = "ec") -> PrivateKey:
    """A fresh private key: `ec` (P-256) or `rsa` (2048 bits)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS #8 PEM."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class Authority:
    """A certificate authority; `path` is its certificate's PEM file, for clients to trust."""

    name: str
    key: PrivateKey
    certificate: x509.Certificate
    path: Path

    @staticmethod
    def make(directory: Path, name: str) -> Authority:
        """A self-signed root valid for a day, written to `directory/name.pem`."""
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.pem"
        path.write_bytes(certificate_pem(certificate))
        return Authority(name, key, certificate, path)

    def intermediate(self, directory: Path, name: str) -> Authority:
        """An intermediate authority signed by this one."""
        key = new_key()
        certificate = self._sign(key, name, is_authority=True)
        path = directory / f"{name}.pem"
        path.write_bytes(certificate_pem(certificate))
        return Authority(name, key, certificate, path)

    def issue(self, common_name: str, *, key_kind: str = "ec") -> tuple[x509.Certificate, PrivateKey]:
        """A server certificate for `127.0.0.1` and `localhost`, and its key."""
        key = new_key(key_kind)
        return self._sign(key, common_name, is_authority=False), key

    def _sign(self, key: PrivateKey, common_name: str, *, is_authority: bool) -> x509.Certificate:
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_authority, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if is_authority:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]), critical=False).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(self.key, hashes.SHA256())


@dataclass
class ServerPair:
    """A server certificate and key written to PEM files, as `--tls-cert` and `--tls-key` take them."""

    certificate: x509.Certificate
    certificate_path: Path
    key_path: Path

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @staticmethod
    def write(
        directory: Path, name: str, certificate: x509.Certificate, key: PrivateKey,
        chain: tuple[x509.Certificate, ...] = (),
    ) -> ServerPair:
        """Writes `name.pem` (the certificate, then `chain`) and `name.key` in `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        certificate_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        certificate_path.write_bytes(b"".join(certificate_pem(each) for each in (certificate, *chain)))
        key_path.write_bytes(key_pem(key))
        key_path.chmod(0o600)
        return ServerPair(certificate, certificate_path, key_path)
