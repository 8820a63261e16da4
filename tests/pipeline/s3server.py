"""A real S3 server for the state tests: moto's server mode, over TLS, on 127.0.0.1 only.

The certificate comes from a throwaway CA made here (cryptography); the Pulumi CLI trusts it through
SSL_CERT_FILE, boto3 through AWS_CA_BUNDLE. The server is a child process, stopped by its PID.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
# Obviously fake Spaces key (the test server checks no signature; Spaces would).
ACCESS_KEY = "FAKESPACESKEY0000000"
SECRET_KEY = "fake-spaces-secret-for-tests-000000000000"


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA valid for a day and a server cert for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "socialcoop-infra test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(key))
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(folder: Path) -> Iterator[dict]:
    """Start `moto_server` on 127.0.0.1 over TLS; yield its endpoint and CA; stop it by PID."""
    if not MOTO_SERVER.exists():
        raise RuntimeError(f"{MOTO_SERVER} is missing: moto is in requirements.lock, run `make venv`")
    ca, cert, key = make_ca(folder)
    port = free_port()
    log = (folder / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port), "-c", str(cert), "-k", str(key)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        context = ssl.create_default_context(cafile=str(ca))
        for _ in range(150):  # up to 30 s
            if proc.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited {proc.returncode}: {(folder / 'moto.log').read_text()[-2000:]}"
                )
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                    context.wrap_socket(raw, server_hostname="127.0.0.1"),
                ):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("moto_server did not answer on 127.0.0.1 within 30 s")
        yield {"endpoint": f"https://127.0.0.1:{port}", "port": port, "ca": ca, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def listening_pids(port: int) -> list[str]:
    """Who listens on a TCP port, from /proc/net/tcp (empty once the server is gone)."""
    hexport = f"{port:04X}"
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{hexport}") and fields[3] == "0A":  # 0A: LISTEN
                found.append(fields[1])
    return found
