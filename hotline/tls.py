"""The certificate of the seats' SIP/TLS transport: the site's own when given,
else a self-signed one made once with the ``openssl`` CLI (key 0600)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kernel.errors import HotlineError


class TLSError(HotlineError, RuntimeError):
    error_id = "tls"


def ensure_self_signed(folder: Path, common_name: str = "hotline12345", days: int = 825,
                       addresses: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
    """(certificate, key) in ``folder``, made on first use; the key is 0600, the folder 0700."""
    folder = Path(folder)
    cert, key = folder / "sip-tls.crt", folder / "sip-tls.key"
    if cert.exists() and key.exists():
        os.chmod(key, 0o600)
        return cert, key
    exe = shutil.which("openssl")
    if exe is None:
        raise TLSError("openssl is not installed: give seats_sip.tls_cert and tls_key, or install openssl")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    san = ",".join([f"IP:{a}" for a in addresses] + [f"DNS:{common_name}"])
    old = os.umask(0o077)
    try:
        res = subprocess.run([exe, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(days),
                              "-subj", f"/CN={common_name}", "-addext", f"subjectAltName={san}",
                              "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, timeout=60)
    finally:
        os.umask(old)
    if res.returncode != 0:
        raise TLSError(f"openssl could not make the certificate: {res.stderr.strip()[-500:]}")
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key
